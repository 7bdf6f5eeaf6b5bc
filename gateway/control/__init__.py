"""What changes the gateway while it serves: live reload of the routes file, the per-entry
state carried across reloads (guard rollbacks, shadow noise), and the process's lifespan."""
