"""`streamseg serve`: a local HTTP service and its page, on the warm model.

Built on FastAPI (routing, request validation and the OpenAPI description at /docs and /openapi.json for free,
on Starlette's well-tested HTTP core), served by uvicorn (the ASGI server FastAPI is made for, with graceful
shutdown), with python-multipart's streaming parser reading uploads straight to disk under a byte cap. Writing
our own HTTP server on http.server would mean re-doing the parsing, error handling and concurrency these
already get right.

Modules: `table` (the job table, persisted as JSON, and the unguessable job ids), `uploads` (type and size
checks before anything is decoded), `runner` (the queue, the bounded workers and the one call into the Python
API), `app` (the FastAPI application and `run_server`), `static/` (the page: plain HTML and a small JS file).
Nothing here is imported by `import streamseg`: FastAPI is an optional extra (`pip install 'streamseg[serve]'`).
"""
