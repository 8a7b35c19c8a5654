"""The Storage SCP: a pynetdicom application entity with C-ECHO, C-STORE and study-level C-FIND.

pynetdicom runs each association in a thread of its own and calls the handlers below in it.
They are thin: who the caller is (`selectors.peer_for_caller`), then one service call. Each
handler closes its thread's database connection when it is done, as Django does at the end of a
request, so that an association left open holds no connection.

Statuses: C-STORE answers Success for an instance stored or queued for reconciliation
(services), 0x0124 when the patient's consent refuses the organisation, and the C-STORE
failures of PS3.4 B.2.3 (with an Error Comment, no patient data) for bad data; C-FIND answers
Pending per study then Success, or a failure (A900 for a level other than STUDY, C000 for a key
it cannot match) with an Error Comment.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections
from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, _config, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind, Verification

from imaging.dicom import dimse
from imaging.dimse import find, selectors, services

log = logging.getLogger(__name__)

# A-ASSOCIATE-RJ: rejected-permanent, by the service user, calling AE title not recognised
REJECT_UNKNOWN_CALLER = (0x01, 0x01, 0x03)


def _closing_connections(handler: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handler)
    def wrapped(event: Any, *args: Any) -> Any:
        close_old_connections()
        try:
            return handler(event, *args)
        finally:
            close_old_connections()

    return wrapped


def _caller(event: Any) -> tuple[str, str]:
    requestor = event.assoc.requestor
    return str(requestor.primitive.calling_ae_title or "").strip(), str(requestor.address or "")


def _peer(event: Any) -> Any:
    ae_title, address = _caller(event)
    return selectors.peer_for_caller(ae_title=ae_title, address=address)


def _failure(status: int, comment: str) -> Dataset:
    ds = Dataset()
    ds.Status = status
    ds.ErrorComment = dimse.error_comment(comment)
    return ds


@_closing_connections
def handle_requested(event: Any) -> None:
    """Refuse an association from an unknown caller, before any negotiation."""
    if _peer(event) is None:
        ae_title, address = _caller(event)
        log.warning(
            "DICOM association refused: calling AE title %r from %s is not a known peer", ae_title, address
        )
        event.assoc.acse.send_reject(*REJECT_UNKNOWN_CALLER)
        event.assoc.kill()  # as pynetdicom's own refusals do: the DUL sends the A-ASSOCIATE-RJ, then stops


def handle_echo(event: Any) -> int:
    return dimse.SUCCESS


@_closing_connections
def handle_store(event: Any) -> int | Dataset:
    peer = _peer(event)
    if peer is None:  # deactivated since the association began
        return _failure(dimse.NOT_AUTHORISED, "Refused: this AE title is no longer a known peer")
    try:
        received = services.instance_receive(peer=peer, data=event.encoded_dataset(include_meta=True))
    except Exception as exc:  # noqa: BLE001 - the SCP keeps serving; the sender gets a failure
        log.error("C-STORE from %s failed (%s)", peer.ae_title, type(exc).__name__)
        return _failure(0x0110, "Processing failure")
    if received.status != dimse.SUCCESS:
        log.info("C-STORE from %s refused with status 0x%04X", peer.ae_title, received.status)
        return _failure(received.status, received.comment)
    return dimse.SUCCESS


@_closing_connections
def handle_find(event: Any) -> list[tuple[int | Dataset, Dataset | None]]:
    """All of the answer at once (it is bounded by the QIDO cap), so that the database work is
    done inside this call."""
    peer = _peer(event)
    if peer is None:
        return [(_failure(dimse.NOT_AUTHORISED, "Refused: this AE title is no longer a known peer"), None)]
    try:
        request = dimse.study_request(event.identifier)
    except dimse.FindError as exc:
        return [(_failure(exc.status, str(exc)), None)]
    except Exception:  # noqa: BLE001 - an identifier that does not decode
        return [(_failure(dimse.CANNOT_UNDERSTAND, "The identifier could not be decoded"), None)]
    rows = find.studies(peer=peer, request=request)
    return [(dimse.PENDING, dimse.study_response(row, request)) for row in rows]


HANDLERS = [
    (evt.EVT_REQUESTED, handle_requested),
    (evt.EVT_C_ECHO, handle_echo),
    (evt.EVT_C_STORE, handle_store),
    (evt.EVT_C_FIND, handle_find),
]


def application_entity(ae_title: str) -> AE:
    """The SCP's application entity: every storage SOP class in any transfer syntax (what the
    upload path cannot read it refuses per instance), Verification and Study Root FIND; a
    request addressed to another AE title is refused."""
    # pynetdicom logs C-FIND identifiers at INFO and whole PDUs at DEBUG: patient data, never logged
    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False
    pynetdicom_log = logging.getLogger("pynetdicom")
    pynetdicom_log.setLevel(max(logging.INFO, pynetdicom_log.getEffectiveLevel()))
    ae = AE(ae_title=ae_title)
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    ae.require_called_aet = True
    return ae


def serve(*, ae_title: str, host: str, port: int, stop: threading.Event, ready: Callable[[], None]) -> None:
    """Run the SCP until `stop` is set; `ready` is called once it listens."""
    ae = application_entity(ae_title)
    ae.start_server((host, port), block=False, evt_handlers=HANDLERS)
    try:
        ready()
        while not stop.wait(1.0):
            pass
    finally:
        ae.shutdown()
