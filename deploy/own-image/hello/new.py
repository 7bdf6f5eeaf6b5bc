"""Its FastAPI rewrite: the new side (GATEWAY_NEW_APP=hello.new:app)."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "from FastAPI"}
