"""Progressive delivery: one controller steps routes through their rollouts and writes each
decision into the route table that every gateway process follows."""
