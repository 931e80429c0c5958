"""`scarce serve`: a small HTTP prediction service over one bundle (FastAPI + uvicorn).

    POST /predict        {"texts": [...]} or {"images": [base64 image files]}, "proba": bool
    POST /predict/files  image files as multipart (curl -F files=@a.png -F files=@b.jpg)
    GET  /info           the model: method, backbone, classes, tasks, test metrics
    GET  /health         {"status": "ok"}

It answers with the rows `scarce predict` writes. Bad input is a 400 (413 when too big)
whose `error` says what to do. Predictions run one request at a time: the encoder already
uses every core, and two at once would only fight over them. Served inputs are not written
to the embedding cache, which a long-running service would otherwise grow without end.
"""

# no `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run
# time, and the request model is local to create_app (fastapi is imported only when serving)
import base64
import binascii
import contextlib
import errno
import logging
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

from scarce.api import Model
from scarce.core.errors import ConfigError, DataError, InputError, ScarceError, UnusableImages
from scarce.data.sources import check_images
from scarce.data.types import Inputs, without_lone_surrogates
from scarce.encoders.base import transient

log = logging.getLogger(__name__)

MAX_BATCH = 256  # inputs per request
MAX_FILE_MB = 20  # per uploaded image
# a whole request: a JSON body is held in memory whole, so 256 images of 20 MB in base64
# (6.8 GB) would not fit (walk 31)
MAX_REQUEST_MB = 256


class TooLarge(InputError):
    """A request with more inputs, or a bigger file, than the service takes."""


def create_app(
    model: Model,
    *,
    max_batch: int = MAX_BATCH,
    max_file_mb: int = MAX_FILE_MB,
    max_request_mb: int = MAX_REQUEST_MB,
) -> Any:
    """The FastAPI application serving `model`. A request may hold `max_request_mb` in all;
    a text model's also at most `max_file_mb`, an image model's files `max_file_mb` each."""
    try:
        from fastapi import FastAPI, File, Request, UploadFile
    except ImportError:
        raise ConfigError(
            "scarce serve needs FastAPI and uvicorn: pip install 'scarce[serve]' "
            "(scripts/setup.sh installs them)."
        ) from None
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, ConfigDict, Field, StrictBool
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    m = model.manifest
    want = "texts" if model.modality == "text" else "images"
    lock = threading.Lock()

    class PredictRequest(BaseModel):
        # a misspelt field ("probas") or "proba": "yes" is an error, not silently ignored
        model_config = ConfigDict(extra="forbid")

        texts: list[str] | None = Field(None, description="texts, for a text model")
        images: list[str] | None = Field(
            None, description="base64-encoded image files (PNG, JPEG, ...), for an image model"
        )
        proba: StrictBool = Field(True, description="add proba_<class> for every class")
        skip_bad: StrictBool = Field(
            False,
            description="images: predict the readable ones; each unreadable one gets a row "
            "with no prediction and an `error` (default: refuse the request, naming them)",
        )

    app = FastAPI(
        # Swagger UI and ReDoc load from a CDN, blank offline; /openapi.json stays
        docs_url=None,
        redoc_url=None,
        title=f"scarce: {m['method']} on {(m.get('backbone') or {}).get('id', 'no encoder')}",
        version=str(m.get("scarce_version", "")),
        description=f"{model.modality} classifier over {len(model.fitted.classes)} classes: "
        + ", ".join(model.fitted.classes),
    )

    @app.exception_handler(ScarceError)
    def scarce_error(request: Request, exc: ScarceError) -> JSONResponse:
        status = 413 if isinstance(exc, TooLarge) else 400 if isinstance(exc, InputError) else 500
        if status == 500:
            log.error("prediction failed: %s: %s", type(exc).__name__, exc)
        return JSONResponse({"error": str(exc)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's own 422 {"detail": [...]} becomes the documented 400 {"error": ...}."""
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: "
            f"{e.get('msg', 'invalid')}"
            for e in exc.errors()[:5]
        )
        if all(e.get("loc", ("",))[0] == "query" for e in exc.errors()):
            # walk 21: a bad ?skip_bad= was told to send JSON
            return JSONResponse(
                {
                    "error": f"bad query parameter ({where}): use "
                    "?proba=true|false&skip_bad=true|false."
                },
                status_code=400,
            )
        if request.url.path.endswith("/predict/files"):  # walk 38: a form was told to send JSON
            return JSONResponse(
                {
                    "error": f"malformed request ({where}). Send a multipart form with one "
                    "field named files per image, e.g. curl -F files=@a.png -F files=@b.jpg "
                    "URL/predict/files."
                },
                status_code=400,
            )
        example = (
            '{"texts": ["first text", "second text"]}'
            if want == "texts"
            else '{"images": ["<base64 of an image file>"]}, or files to POST /predict/files'
        )
        return JSONResponse(
            {
                "error": f"malformed request ({where}). Send JSON, with the header "
                f"content-type: application/json, like {example}."
            },
            status_code=400,
        )

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        """FastAPI's {"detail": ...} (a body it cannot parse, an unknown path) in the
        documented {"error": ...} shape."""
        what = str(exc.detail)
        if exc.status_code == 400 and "parsing the body" in what:
            what = (
                "cannot parse the request body; send UTF-8 JSON with the header "
                "content-type: application/json"
            )
        elif exc.status_code in (404, 405):
            what = (
                f"{what}: {request.method} {request.url.path}. This service answers "
                "POST /predict, POST /predict/files, GET /info and GET /health."
            )
        return JSONResponse({"error": what}, status_code=exc.status_code)

    # a request in all; a text model's also within --max-file-mb, as before the other flag
    # (texts need no more: each is cut to the encoder's max_length anyway). Walk 36: a text
    # model took 2.5 MB under --max-request-mb 1
    mb, flag = max_request_mb, "--max-request-mb"
    if want == "texts":
        mb, flag = min((max_file_mb, "--max-file-mb"), (mb, flag))
    app.add_middleware(
        _BodyLimit,
        limit=mb << 20,
        message=f"the request is over {mb} MB (scarce serve {flag}): split the {want} over "
        "several requests.",
    )

    def count(n: int) -> None:
        if n == 0:
            raise DataError(f"no inputs: send at least one in {want!r}.")
        if n > max_batch:
            raise TooLarge(
                f"{n} inputs in one request; this service takes at most {max_batch} (scarce "
                "serve --max-batch): split them over several requests."
            )

    def rows(
        inputs: Inputs,
        proba: bool,
        positions: bool = False,
        skipped: list[tuple[int, str, str]] | None = None,
    ) -> dict[str, Any]:
        with lock, transient():
            out = model.prediction_rows(inputs, proba=proba, skipped=skipped)
        if positions:  # a JSON list's inputs are named by their position, a number
            out = [{**r, "input": i} for i, r in enumerate(out)]
        return {"predictions": out}

    def images(
        blobs: list[tuple[str, str, bytes]],
        proba: bool,
        positions: bool = False,
        skip_bad: bool = False,
    ) -> dict[str, Any]:
        for _, where, data in blobs:
            if len(data) > max_file_mb << 20:
                raise TooLarge(f"{where} is over {max_file_mb} MB (scarce serve --max-file-mb).")
        ok, hashes, failed = check_images((where, data) for _, where, data in blobs)
        bad = [(i, blobs[i][0], why) for i, why in failed]
        if bad and not skip_bad:  # every bad one named, as `scarce predict` does
            raise UnusableImages(
                "\n".join(why for _, _, why in bad)
                + "\nNothing was predicted. To predict the others, set skip_bad (true in the "
                "JSON body, or ?skip_bad=true for /predict/files): each unreadable image then "
                "gets a row with its error."
            )
        if not ok:
            raise UnusableImages("no image in the request could be read: " + bad[0][2])
        with _as_files([blobs[i] for i in ok], hashes) as inputs:
            return rows(inputs, proba, positions, skipped=bad if skip_bad else None)

    # async: answered on the event loop at once, not queued in the thread pool behind the
    # predictions waiting for the lock (walk 31: 45 queued ones kept /health from a load
    # balancer for over 10 s)
    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/info")
    async def info() -> dict[str, Any]:
        return {
            "method": m["method"],
            "modality": model.modality,
            "backbone": (m.get("backbone") or {}).get("id"),
            "classes": list(model.classes_),
            "tasks": {t: list(c) for t, c in model.tasks.items()},
            "metrics": m.get("metrics", {}),
            "created": m.get("created"),
            "scarce_version": m.get("scarce_version"),
            "max_batch": max_batch,
            "send": f'POST /predict {{"{want}": [...]}}'
            + (" or POST /predict/files (multipart, field 'files')" if want == "images" else ""),
        }

    @app.post("/predict")
    def predict(req: PredictRequest, request: Request) -> dict[str, Any]:
        if request.query_params:  # ?proba=false belongs to /predict/files; read nothing silently
            raise DataError(
                f"POST /predict reads no query parameters (got {sorted(request.query_params)}): "
                'put them in the JSON body, e.g. {"proba": false}.'
            )
        given = [k for k in ("texts", "images") if getattr(req, k) is not None]
        if given != [want]:
            raise DataError(
                f'this model takes {model.modality} inputs: send {{"{want}": [...]}}'
                + (" (base64-encoded image files)" if want == "images" else "")
                + (f", not {given[0]!r}" if given and given[0] != want else "")
                + "."
            )
        items = getattr(req, want)
        count(len(items))
        if want == "texts":
            out = rows(Inputs.from_texts(items), req.proba, positions=True)
            notes = []
            if empty := [i for i, t in enumerate(items) if not t.strip()]:
                # predicted as `scarce predict` does, and said as it says it
                notes.append(
                    f"{len(empty)} empty text(s) (texts[{_shown(empty)}]); each is predicted "
                    "as an empty text."
                )
                log.warning(notes[-1])
            if halves := [i for i, t in enumerate(items) if without_lone_surrogates(t)[1]]:
                notes.append(  # Inputs.from_texts logged it; the client is told here
                    f"{len(halves)} text(s) held lone UTF-16 surrogates (texts[{_shown(halves)}]);"
                    " each was read as U+FFFD."
                )
            if notes:
                out["warnings"] = notes
            return out
        blobs = []
        for i, s in enumerate(items):
            if s.startswith("data:") and "," in s:  # a data: URL, as browsers make them
                s = s.split(",", 1)[1]
            try:
                blobs.append((str(i), f"images[{i}]", base64.b64decode(s, validate=True)))
            except (binascii.Error, ValueError):
                raise DataError(
                    f"images[{i}] is not base64: encode the image file's bytes "
                    "(base64 -w0 photo.jpg), or upload files to POST /predict/files."
                ) from None
        return images(blobs, req.proba, positions=True, skip_bad=req.skip_bad)

    @app.post("/predict/files")
    async def predict_files(
        request: Request,
        files: Annotated[list[UploadFile], File()],
        proba: bool = True,
        skip_bad: bool = False,
    ) -> dict[str, Any]:
        unknown = sorted(set(request.query_params) - {"proba", "skip_bad"})
        if unknown:  # walk 21: ?probas=false was ignored, where a JSON field is refused
            raise DataError(
                f"unknown query parameter(s) {unknown}: POST /predict/files reads ?proba= "
                "and ?skip_bad= (true or false)."
            )
        # the form FastAPI parsed for `files` (Starlette keeps it): any other field, a file
        # under a misspelt name or -F proba=false, was dropped without a word (walk 31)
        fields = sorted(set((await request.form()).keys()) - {"files"})
        if fields:
            raise DataError(
                f"unknown form field(s) {fields}: POST /predict/files reads the images from "
                "fields named 'files' (curl -F files=@a.png -F files=@b.jpg), and proba and "
                "skip_bad from the query (?proba=false&skip_bad=true)."
            )
        if want != "images":
            raise DataError(
                'this model takes text: POST /predict with {"texts": [...]} instead of files.'
            )
        count(len(files))
        limit = (max_file_mb << 20) + 1  # enough to tell a file too big, no more
        named = [(f.filename or str(i), await f.read(limit)) for i, f in enumerate(files)]
        blobs = [(name, name, data) for name, data in named]
        # off the event loop: /health keeps answering while this waits for the lock
        return await run_in_threadpool(images, blobs, proba, skip_bad=skip_bad)

    return app


class _BodyLimit:
    """ASGI middleware: a 413 once a request's body passes `limit` bytes, counted as it
    arrives. A Content-Length over it is refused at once; a chunked body, which has none, when
    it gets there (walk 31: a 150 MB chunked body was read whole and answered). FastAPI's own
    max_body_size answers in its {"detail": ...} shape, not this service's {"error": ...}."""

    def __init__(self, app: Any, limit: int, message: str) -> None:
        from starlette.exceptions import HTTPException
        from starlette.responses import JSONResponse

        self.app, self.limit, self.message = app, limit, message
        # imported once here, not on every request (fastapi loads only when serving); the
        # responses and exceptions themselves are made per request: they carry its state
        self.http_error, self.json = HTTPException, JSONResponse

    async def __call__(self, scope: Any, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size = dict(scope["headers"]).get(b"content-length", b"")
        if size.isdigit() and int(size) > self.limit:
            await self.json({"error": self.message}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:  # FastAPI passes an HTTPException from reading on
                    raise self.http_error(413, self.message)
            return message

        await self.app(scope, counted, send)


def _shown(positions: list[int]) -> str:
    return ", ".join(map(str, positions[:10])) + (" ..." if len(positions) > 10 else "")


@contextlib.contextmanager
def _as_files(blobs: list[tuple[str, str, bytes]], hashes: list[str]) -> Iterator[Inputs]:
    """Checked uploads (name, where for errors, bytes) and their hashes as Inputs with those
    names, read from a temporary folder: decoded batch by batch, exactly as `scarce predict`
    decodes files."""
    with tempfile.TemporaryDirectory(prefix="scarce-serve-") as d:
        items = []
        for i, (name, _, data) in enumerate(blobs):
            path = Path(d) / f"{i}{Path(name).suffix[:10]}"
            path.write_bytes(data)
            items.append(str(path))
        yield Inputs("image", tuple(items), tuple(hashes), tuple(n for n, _, _ in blobs))


def warm_up(model: Model) -> None:
    """One prediction before the first request: loads the encoder and builds its ONNX
    session, so that the first user does not wait for them."""
    import numpy as np

    x = ["warm-up"] if model.modality == "text" else [np.full((32, 32, 3), 128, np.uint8)]
    with transient():
        model.predict_proba(x)


def serve(
    bundle: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_batch: int = MAX_BATCH,
    max_file_mb: int = MAX_FILE_MB,
    max_request_mb: int = MAX_REQUEST_MB,
    log_level: str = "info",
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Load `bundle` and serve it until interrupted; `on_ready` gets the address once the
    port is taken (a port in use is a ConfigError, not uvicorn's exit 3)."""
    import uvicorn

    from scarce.api import load

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be from 0 to 65535, got {port}.")
    model = load(bundle)
    app = create_app(
        model, max_batch=max_batch, max_file_mb=max_file_mb, max_request_mb=max_request_mb
    )
    warm_up(model)
    sock = _listen(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level))
    if on_ready is not None:
        on_ready(f"http://{host}:{sock.getsockname()[1]}")
    with sock:
        server.run(sockets=[sock])


def _listen(host: str, port: int) -> socket.socket:
    """A bound socket for uvicorn: binding here turns a taken port into a clear error."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as e:
        raise ConfigError(
            f"--host {host}: not an address of this machine ({e.strerror})."
        ) from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        hint = (
            "another program is listening there: pass another --port, or stop it"
            if e.errno == errno.EADDRINUSE
            else "pass another --host or --port"
        )
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror}); {hint}.") from None
    sock.set_inheritable(True)
    return sock
