"""The HTTP server's own bounds: uvicorn's HTTP/1.1 protocols with a request-head limit.

uvicorn's httptools protocol reads a request head of any size for any time (a 2,000,000-byte
header was accepted; connections trickling a byte every 10 s stayed open for good), and its h11
protocol bounds the size only, with a 400. These subclasses answer a head over
`GATEWAY_MAX_HEADER_BYTES` with 431 and close a connection whose head is not complete
`GATEWAY_HEADER_TIMEOUT` seconds after it opened, or after the previous answer on a keep-alive
connection (docs/server-limits.md).
"""
