"""The HTTP vocabulary shared by the rest: headers, the gateway's own JSON answers and their
shape, request bodies read ahead and their limits."""
