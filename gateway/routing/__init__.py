"""Where a request goes: its canonical path, the route table and the routes file it is read from,
and what each side's own router serves."""
