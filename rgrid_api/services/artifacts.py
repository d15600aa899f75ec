"""Input and output files: content-addressed uploads, records, signed URLs, retention."""

from __future__ import annotations

import posixpath
import re
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rgrid_api.core.config import Settings
from rgrid_api.models import Account, Artifact, Execution, as_utc
from rgrid_api.schemas import ArtifactPublic, BlobCompletion, InputFile, UploadOffer
from rgrid_api.storage import ObjectInfo, ObjectStore, SignedUpload
from rgrid_common.blobs import BlobRef
from rgrid_common.errors import InvalidInput, NotFound, ServiceUnavailable
from rgrid_common.files import content_type
from rgrid_common.inline import InlineBudget, inline_text, verified
from rgrid_common.protocol import (InputDownload, MultipartTarget, OutputCompletion,
                                   OutputFile, OutputUpload, PartTarget, UploadCompletion)
from rgrid_common.status import ArtifactKind
from rgrid_common.validation import output_path_problem, printable

INPUT, OUTPUT = ArtifactKind.INPUT.value, ArtifactKind.OUTPUT.value
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


def blob_key(account_id: str, sha256: str, encoding: str = "identity") -> str:
    """Blobs are per account: a shared namespace would tell one account what another holds."""
    return f"blobs/{account_id}/{sha256}{'.gz' if encoding == 'gzip' else ''}"


def output_key(execution: Execution, path: str) -> str:
    """Under the attempt that wrote it: a worker cut off from the control plane may still
    land an upload after its attempt was given to another worker, and must not overwrite
    (or add to) what the attempt that finished wrote. Only the finishing attempt's
    objects are recorded; a stray attempt's are left to the bucket's retention rule."""
    return f"executions/{execution.id}/attempts/{execution.attempt}/outputs/{path}"



# --- inputs ------------------------------------------------------------------------------


def offer_uploads(store: ObjectStore, *, account: Account, files: list[BlobRef], force: bool,
                  settings: Settings, now: datetime) -> list[UploadOffer]:
    """For each blob: already held (and not about to expire), or a signed upload URL."""
    expires = timedelta(seconds=settings.signed_url_seconds)
    fresh_after = now - timedelta(days=settings.retention_days - 1)
    offers = []
    for blob in files:
        _check_size(blob.size, settings)
        key = blob_key(account.id, blob.sha256, blob.encoding)
        held = None if force else store.stat(key)
        offer = {"sha256": blob.sha256, "encoding": blob.encoding}
        if held and held.size == blob.bytes_stored and as_utc(held.modified) > fresh_after:
            offers.append(UploadOffer(**offer, present=True))
            continue
        upload = store.signed_upload(key, size=blob.bytes_stored, expires=expires,
                                     encoding=blob.encoding)
        offers.append(UploadOffer(**offer, present=False, **_target(upload)))
    return offers


def complete_blob_upload(store: ObjectStore, *, account: Account,
                         completion: BlobCompletion) -> None:
    store.complete_upload(blob_key(account.id, completion.sha256, completion.encoding),
                          upload_id=completion.upload_id, parts=_parts(completion))


def complete_output_upload(store: ObjectStore, *, execution: Execution,
                           completion: OutputCompletion) -> None:
    store.complete_upload(output_key(execution, checked_output_path(completion.path)),
                          upload_id=completion.upload_id, parts=_parts(completion))


def _target(upload: SignedUpload) -> dict:
    """The store's signed upload as the API's UploadTarget fields."""
    multipart = None
    if upload.upload_id:
        multipart = MultipartTarget(
            upload_id=upload.upload_id, part_size=upload.part_size,
            parts=[PartTarget(number=part.number, url=part.url) for part in upload.parts])
    return {"url": upload.url, "headers": upload.headers, "multipart": multipart}


def _parts(completion: UploadCompletion) -> list[tuple[int, str]]:
    return [(part.number, part.etag) for part in completion.parts]


def validate_inputs(inputs: list[InputFile], *, args: list[str], script_name: str,
                    settings: Settings) -> None:
    names = [item.name for item in inputs]
    if len(set(names)) != len(names) or script_name in names:
        raise InvalidInput("Two input files would have the same name in /work.",
                           "Rename one of them.")
    if sum(item.size for item in inputs) > settings.max_execution_bytes:
        raise InvalidInput(f"Inputs exceed {settings.max_execution_bytes // 2**30} GB in all.",
                           "Split the work into several executions.")
    for item in inputs:
        _check_size(item.size, settings)
        if not all(0 <= index < len(args) for index in item.arg_indexes):
            raise InvalidInput(f"Input {item.name!r} points at arguments {item.arg_indexes}, "
                               f"but there are {len(args)}.")
        if "/" in item.name or item.name in (".", "..") or _CONTROL_CHARS.search(item.name):
            raise InvalidInput(f"Invalid input file name: {item.name!r}.",
                               "Use a plain file name.")


def record_inputs(session: Session, store: ObjectStore, *, execution: Execution,
                  inputs: list[InputFile], settings: Settings) -> None:
    for item in inputs:
        key = blob_key(execution.account_id, item.sha256, item.encoding)
        held = store.stat(key)
        if held is None or held.size != item.bytes_stored:
            raise InvalidInput(f"Input {item.name!r} was not uploaded completely.",
                               "Run the command again; the upload is retried.")
        _add(session, execution, INPUT, item.name, item, key=key,
             content_type=content_type(item.name), arg_indexes=item.arg_indexes,
             expires_at=as_utc(held.modified) + timedelta(days=settings.retention_days))


def _add(session: Session, execution: Execution, kind: str, path: str,
         blob: BlobRef | Artifact, *, key: str, content_type: str, expires_at: datetime,
         arg_indexes: list[int] | None = None) -> None:
    """The one place an artifact row is made: ``blob`` (its size, hash and encoding),
    stored under ``key``, as ``path`` of ``execution``."""
    session.add(Artifact(
        account_id=execution.account_id, execution_id=execution.id, kind=kind, path=path,
        arg_indexes=arg_indexes, size=blob.size, sha256=blob.sha256, encoding=blob.encoding,
        content_type=content_type, key=key, expires_at=expires_at))


def add_link(session: Session, artifact: Artifact, *, to: Execution) -> None:
    """The same stored object, with the same expiry, as ``to``'s too: a retry's inputs, a
    cache hit's outputs."""
    _add(session, to, artifact.kind, artifact.path, artifact, key=artifact.key,
         content_type=artifact.content_type, expires_at=artifact.expires_at,
         arg_indexes=artifact.arg_indexes)


def copy_inputs(session: Session, store: ObjectStore, *, source: Execution, target: Execution,
                now: datetime) -> None:
    """A retry gets the same input blobs, as long as the store still holds them."""
    for artifact in _artifacts_of(session, source.id, INPUT):
        if as_utc(artifact.expires_at) <= now or store.stat(artifact.key) is None:
            raise InvalidInput(f"Input {artifact.path!r} of {source.id} has expired.",
                               "Run the script again with the file instead of retrying.")
        add_link(session, artifact, to=target)


def inputs_of(session: Session, execution: Execution) -> list[Artifact]:
    """The execution's input files, by path."""
    return _artifacts_of(session, execution.id, INPUT)


def input_downloads(store: ObjectStore, inputs: list[Artifact], *,
                    settings: Settings) -> list[InputDownload]:
    """Each input's signed URL; a small one's bytes as well (``rgrid_common.inline``), so
    that its worker need not fetch it. A gzip object is smaller than its file."""
    expires = timedelta(seconds=settings.signed_url_seconds)
    budget = InlineBudget()
    downloads = []
    for artifact in inputs:
        stored = _read_if_reachable(store, artifact.key) if budget.takes(artifact.size) \
            else None
        downloads.append(InputDownload(
            name=artifact.path, sha256=artifact.sha256, size=artifact.size,
            encoding=artifact.encoding,
            url=store.signed_download(artifact.key, expires=expires,
                                      encoding=artifact.encoding),
            content=None if stored is None else inline_text(stored)))
    return downloads


def _read_if_reachable(store: ObjectStore, key: str) -> bytes | None:
    """A small input's bytes for the claim's answer, or None while storage is away: the
    claim is taken by then, and its answer must not fail, or the worker, told to send it
    again, would take another item and leave this one claimed (the chaos suite, S3 down).
    The worker fetches the file by its URL instead, and waits out storage as it does for
    a large one."""
    try:
        return store.read(key)
    except ServiceUnavailable:
        return None


def container_args(execution: Execution, inputs: list[Artifact], work_dir: str) -> list[str]:
    """The execution's args with each input file argument replaced by its path in /work."""
    args = list(execution.args)
    for artifact in inputs:
        for index in artifact.arg_indexes or []:
            args[index] = f"{work_dir}/{artifact.path}"
    return args


# --- outputs -----------------------------------------------------------------------------


def checked_output_path(path: str) -> str:
    normal = posixpath.normpath(path)
    if path != normal or normal.startswith(("/", "../")) or normal in (".", ".."):
        raise InvalidInput(f"Refused output path: {path!r}.",
                           "Outputs must be relative paths inside /work.")
    problem = output_path_problem(normal)
    if problem:
        raise InvalidInput(f"Refused output path {printable(path)!r}: {problem}.",
                           "The worker skips such outputs; this one should not have come.")
    return normal


def offer_output_uploads(store: ObjectStore, *, execution: Execution, files: list[OutputFile],
                         settings: Settings) -> list[OutputUpload]:
    _check_outputs(files, settings)
    expires = timedelta(seconds=settings.signed_url_seconds)
    uploads = []
    for item in files:
        upload = store.signed_upload(output_key(execution, checked_output_path(item.path)),
                                     size=item.bytes_stored, expires=expires,
                                     encoding=item.encoding)
        uploads.append(OutputUpload(path=item.path, **_target(upload)))
    return uploads


def record_outputs(session: Session, store: ObjectStore, *, execution: Execution,
                   files: list[OutputFile], settings: Settings, now: datetime) -> None:
    """Outputs uploaded to their signed URLs, or carried in the report. Those are kept
    only once all of them prove right, and once: a report sent again finds them held."""
    _check_outputs(files, settings)
    keys = {item.path: output_key(execution, checked_output_path(item.path)) for item in files}
    held = {item.path: store.stat(keys[item.path]) for item in files}
    carried = {item.path: _carried(item) for item in files if item.content is not None
               and not _holds(held[item.path], item)}
    for item in files:
        if item.path not in carried and not _holds(held[item.path], item):
            raise InvalidInput(f"Output {item.path!r} was not uploaded completely.")
    for item in files:
        if item.path in carried:
            store.write(keys[item.path], carried[item.path], encoding=item.encoding)
        _add(session, execution, OUTPUT, item.path, item, key=keys[item.path],
             content_type=item.content_type,
             expires_at=now + timedelta(days=settings.retention_days))


def _holds(held: ObjectInfo | None, item: OutputFile) -> bool:
    return held is not None and held.size == item.bytes_stored


def _carried(item: OutputFile) -> bytes:
    """An output's bytes as stored, from the report, once they prove to be the output."""
    stored, _file = verified(item.content, sha256=item.sha256, size=item.size,
                             encoding=item.encoding, name=item.path)
    if len(stored) != item.bytes_stored:
        raise InvalidInput(f"Output {item.path!r}: {len(stored)} bytes inline, "
                           f"{item.bytes_stored} said.")
    return stored


def _check_outputs(files: list[OutputFile], settings: Settings) -> None:
    if len(files) > settings.max_files:
        raise InvalidInput(f"More than {settings.max_files} output files.")
    if sum(item.size for item in files) > settings.max_execution_bytes:
        raise InvalidInput("Outputs exceed the per-execution maximum.")
    for item in files:
        _check_size(item.size, settings)


def _check_size(size: int, settings: Settings) -> None:
    if size > settings.max_file_bytes:
        raise InvalidInput(f"A file of {size / 2**30:.1f} GB exceeds the maximum of "
                           f"{settings.max_file_bytes / 2**30:.1f} GB per file.",
                           "Split the file, or ask for a higher RGRID_MAX_FILE_BYTES.")


# --- reading -----------------------------------------------------------------------------


def _artifacts_of(session: Session, execution_id: str, kind: str) -> list[Artifact]:
    return list(session.scalars(select(Artifact).where(
        Artifact.execution_id == execution_id, Artifact.kind == kind).order_by(Artifact.path)))


def has_outputs(session: Session, execution: Execution) -> bool:
    return session.scalar(select(Artifact.id).where(
        Artifact.execution_id == execution.id, Artifact.kind == OUTPUT).limit(1)) is not None


def public_artifacts(session: Session, store: ObjectStore, *, execution: Execution,
                     kind: str | None, settings: Settings, now: datetime,
                     inline: bool = False) -> list[ArtifactPublic]:
    """With ``inline``, small files carry their bytes (``rgrid_common.inline``): one
    request fetches them all."""
    query = select(Artifact).where(Artifact.execution_id == execution.id)
    if kind:
        query = query.where(Artifact.kind == kind)
    rows = session.scalars(query.order_by(Artifact.kind, Artifact.path))
    budget = InlineBudget() if inline else None
    return [_public(row, store, settings, now, budget) for row in rows]


def public_outputs_of(session: Session, store: ObjectStore, *, executions: list[Execution],
                      settings: Settings, now: datetime) -> dict[str, list[ArtifactPublic]]:
    """Each execution's outputs, in one query, small ones inline while one answer's budget
    lasts."""
    rows = session.scalars(select(Artifact).where(
        Artifact.execution_id.in_([execution.id for execution in executions]),
        Artifact.kind == OUTPUT).order_by(Artifact.execution_id, Artifact.path))
    budget = InlineBudget()
    outputs: dict[str, list[ArtifactPublic]] = {execution.id: [] for execution in executions}
    for row in rows:
        outputs[row.execution_id].append(_public(row, store, settings, now, budget))
    return outputs


def artifact_for_download(session: Session, store: ObjectStore, *, account: Account,
                          artifact_id: str, settings: Settings, now: datetime) -> ArtifactPublic:
    row = session.scalar(select(Artifact).where(Artifact.id == artifact_id,
                                                Artifact.account_id == account.id))
    if row is None:
        raise NotFound(f"Artifact {artifact_id!r} not found.",
                       "List them with `rgrid artifacts EXECUTION_ID`.")
    public = _public(row, store, settings, now)
    if public.expired:
        raise NotFound(f"Artifact {row.path!r} expired on {public.expires_at:%Y-%m-%d}.",
                       f"Outputs are kept {settings.retention_days} days; run the script again.")
    return public


def _public(row: Artifact, store: ObjectStore, settings: Settings, now: datetime,
            inline: InlineBudget | None = None) -> ArtifactPublic:
    remaining = (as_utc(row.expires_at) - now).total_seconds()
    expired = remaining <= 0
    url = None if expired else store.signed_download(
        row.key, expires=timedelta(seconds=settings.signed_url_seconds), encoding=row.encoding)
    stored = (store.read(row.key) if inline is not None and not expired
              and inline.takes(row.size) else None)
    return ArtifactPublic(id=row.id, execution_id=row.execution_id, kind=row.kind,
                          path=row.path, size=row.size, sha256=row.sha256,
                          content_type=row.content_type, encoding=row.encoding,
                          created_at=row.created_at,
                          expires_at=row.expires_at, expired=expired,
                          expires_in_seconds=max(0, int(remaining)), url=url,
                          content=None if stored is None else inline_text(stored))
