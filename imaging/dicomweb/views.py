"""DICOMweb views (PS3.18), thin: parameters in, selectors / instances / services, responses out.

Authentication is the API's: a session, or an OAuth2 bearer token with ``scans:read`` (QIDO,
WADO) or ``scans:write`` (STOW) (portal.api; the permission class reads `required_scopes`).
The purpose of use is ``X-Purpose-Of-Use`` or ``?purpose=`` (default TREAT); a research purpose
(HRESCH) gets de-identified instances under pseudonymous UIDs (imaging.dicomweb.research) and
stores nothing. Every response carries the headers of imaging.dicomweb.http. Errors are RFC
9457 problems.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import ApiError
from imaging import research as research_reads
from imaging.dicom import json_model, multipart, render
from imaging.dicom import query as qido
from imaging.dicom.frames import EXPLICIT_VR_LITTLE_ENDIAN, FrameError, parse_frame_list
from imaging.dicom.identity import is_uid
from imaging.dicomweb import http, instances, research, selectors, services
from imaging.models import Scan
from imaging.permissions import authorize, decision_message
from portal.api.permissions import purpose_of

log = logging.getLogger(__name__)

RESEARCH_STOW_REFUSED = (
    "A research purpose (HRESCH) reads de-identified instances; it does not store instances."
)
DICOM_JSON = json_model.MEDIA_TYPE
OCTET_STREAM = "application/octet-stream"


class DicomJsonRenderer(JSONRenderer):
    media_type = DICOM_JSON
    format = "dicom+json"


class UnreadBodyParser(BaseParser):
    """Lets the OAuth authentication look at ``request.POST`` of a STOW request without
    reading its body: the view reads it, bounded (imaging.dicomweb.http.read_body)."""

    media_type = "multipart/related"

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


def _uid(value: str | None, what: str) -> str | None:
    if value is not None and not is_uid(value):
        raise ApiError(f"The {what} in the URL is not a valid DICOM UID.", 400)
    return value


class DicomWebView(APIView):
    schema = None  # PS3.18 describes these resources, not the portal's OpenAPI document
    renderer_classes = [DicomJsonRenderer]
    parser_classes = [UnreadBodyParser]
    required_scopes = {"GET": ["scans:read"], "POST": ["scans:write"]}
    purpose = "TREAT"
    deidentified = False  # research (HRESCH): de-identified instances under pseudonymous UIDs
    content: Any = instances  # where instance content comes from: `research` when deidentified

    def perform_content_negotiation(self, request, force=False):
        renderer = self.get_renderers()[0]  # each resource checks Accept against what it serves
        return renderer, renderer.media_type

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication, scopes, throttles
        self.purpose = purpose_of(request)
        if research_reads.is_research(self.purpose):
            self.deidentified, self.content = True, research

    def dispatch(self, request, *args, **kwargs):
        if http.is_preflight(request):
            return http.decorate(request, http.preflight(request))
        return http.decorate(request, super().dispatch(request, *args, **kwargs))

    def base(self) -> str:
        """The absolute URL of /dicomweb (for RetrieveURL)."""
        return self.request.build_absolute_uri(reverse("dicomweb:studies"))[: -len("/studies")]

    def retrievable(
        self, action: str, study: str, series: str | None = None, instance: str | None = None
    ) -> list[Scan]:
        """The instances a retrieval names that the caller may `action` (decided, recorded)."""
        study_uid = _uid(study, "study UID")
        series_uid, sop_uid = _uid(series, "series UID"), _uid(instance, "SOP instance UID")
        if self.deidentified:
            return research.retrievable(
                actor=self.request.user, action=action, study=study_uid, series=series_uid, sop=sop_uid
            )
        return selectors.retrievable(
            actor=self.request.user,
            purpose=self.purpose,
            action=action,
            study_uid=study_uid,
            series_uid=series_uid,
            sop_uid=sop_uid,
        )

    def require_dicom_json(self) -> None:
        if (
            http.accepts(self.request, DICOM_JSON) is None
            and http.accepts(self.request, "application/json") is None
        ):
            raise ApiError(
                f"This resource is served as {DICOM_JSON}; the Accept header admits none of it.", 406
            )

    def stow(self, request, study: str | None):
        """STOW-RS: POST /studies and /studies/{study}."""
        if self.deidentified:
            raise ApiError(RESEARCH_STOW_REFUSED, 403)
        media, params = multipart.media_type_params(request.META.get("CONTENT_TYPE", ""))
        if media != "multipart/related" or params.get("type", services.DICOM).lower() != services.DICOM:
            raise ApiError('Store instances as multipart/related; type="application/dicom".', 415)
        patient = selectors.stow_patient(
            actor=request.user, patient_id=request.query_params.get("patient"), study_uid=study
        )
        decision = authorize(actor=request.user, action="upload", patient=patient, purpose=self.purpose)
        if not decision.allowed:  # before the body is read: a refused caller costs no upload
            status = decision.status_code or 403
            raise ApiError(
                selectors.HIDDEN if status == 404 else decision_message(decision, "upload"), status
            )
        body = http.read_body(request._request, settings.QMC_DICOMWEB_MAX_STOW_BYTES)
        try:
            parts = multipart.split(body, params.get("boundary", ""))
        except multipart.MultipartError as exc:
            raise ApiError(f"The multipart body cannot be read: {exc}", 400) from None
        if not parts:
            raise ApiError("The request contains no instance.", 400)
        result = services.instances_store(actor=request.user, patient=patient, parts=parts, study_uid=study)
        return Response(services.store_response(result, base=self.base()), status=result.status)


class SearchView(DicomWebView):
    """QIDO-RS: studies, series or instances, optionally within a study / series."""

    level = "study"

    def get(self, request, study: str | None = None, series: str | None = None):
        self.require_dicom_json()
        study, series = _uid(study, "study UID"), _uid(series, "series UID")
        try:
            query = qido.parse(self.level, request.query_params.lists())
        except qido.QueryError as exc:
            raise ApiError(str(exc), 400) from None
        cap = settings.QMC_DICOMWEB_MAX_RESULTS
        if self.deidentified:
            rows, more = research.search_rows(
                actor=request.user, query=query, study=study, series=series, base=self.base(), cap=cap
            )
        else:
            scans = selectors.search(
                actor=request.user, purpose=self.purpose, query=query, study_uid=study, series_uid=series
            )
            rows, more = selectors.results(scans, base=self.base(), query=query, cap=cap)
        response = Response([json_model.dataset(row) for row in rows])
        if more:
            response["Warning"] = (
                f'299 {request.get_host()}: "There are {more} additional results that can be requested"'
            )
        return response


class StudiesView(SearchView):
    """GET /studies (search) and POST /studies (store)."""

    def post(self, request):
        return self.stow(request, None)


def _dicom_parts(scans: list[Scan], first: Iterator[bytes], *, reader, boundary: str) -> Iterator[bytes]:
    for index, scan in enumerate(scans):
        if index == 0:
            chunks = first
        else:
            try:
                chunks = instances.dicom_chunks(scan, reader=reader)
            except Exception as exc:  # noqa: BLE001 - mid-stream: the response can only end short
                log.warning("DICOMweb: instance of scan %s not served (%s)", scan.pk, type(exc).__name__)
                return
        content_type = f"{services.DICOM}; transfer-syntax={instances.transfer_syntax(scan)}"
        yield multipart.part_head(boundary, content_type)
        yield from chunks
        yield multipart.part_separator()
    yield multipart.closing(boundary)


class RetrieveView(DicomWebView):
    """WADO-RS: a study, series or instance as multipart/related; type="application/dicom",
    each instance as stored, decrypted and streamed per request."""

    def get(self, request, study: str, series: str | None = None, instance: str | None = None):
        wanted = http.require(request, services.DICOM, multipart=True).get("transfer-syntax", "*")
        scans = self.retrievable("download", study, series, instance)
        if wanted != "*" and any(instances.transfer_syntax(s) != wanted for s in scans):
            raise ApiError(
                "Instances are served in the transfer syntax they were stored in; ask for transfer-syntax=*.",
                406,
            )
        boundary = multipart.new_boundary()
        if self.deidentified:
            body = research.instance_parts(scans, reader=request.user, boundary=boundary)
        else:
            with instances.reading(scans[0]):
                first = instances.dicom_chunks(scans[0], reader=request.user)
            body = _dicom_parts(scans, first, reader=request.user, boundary=boundary)
        return StreamingHttpResponse(
            body,
            content_type=f'multipart/related; type="{services.DICOM}"; boundary={boundary}',
        )


class StudyView(RetrieveView):
    """GET /studies/{study} (retrieve) and POST /studies/{study} (store into it)."""

    def post(self, request, study: str):
        return self.stow(request, _uid(study, "study UID"))


class MetadataView(DicomWebView):
    """WADO-RS metadata of a study, series or instance (DICOM JSON, no pixel data)."""

    def get(self, request, study: str, series: str | None = None, instance: str | None = None):
        self.require_dicom_json()
        out = []
        for scan in self.retrievable("view", study, series, instance):
            with instances.reading(scan):
                out.append(self.content.metadata(scan, reader=request.user))
        return Response(out)


class FramesView(DicomWebView):
    """WADO-RS frames: uncompressed pixel data, one part per frame."""

    def get(self, request, study: str, series: str, instance: str, frames: str):
        wanted = http.require(request, OCTET_STREAM, multipart=True).get("transfer-syntax", "*")
        if wanted not in ("*", EXPLICIT_VR_LITTLE_ENDIAN):
            raise ApiError(
                f"Frames are served uncompressed (transfer-syntax={EXPLICIT_VR_LITTLE_ENDIAN}).", 406
            )
        try:
            parse_frame_list(frames, 1 << 30)  # the syntax, before anything is looked up
        except FrameError as exc:
            raise ApiError(exc.message, 400) from None
        scan = self.retrievable("view", study, series, instance)[0]
        with instances.reading(scan):
            data = self.content.frames(scan, reader=request.user, numbers=frames)
        boundary = multipart.new_boundary()
        part_type = f"{OCTET_STREAM}; transfer-syntax={EXPLICIT_VR_LITTLE_ENDIAN}"
        return HttpResponse(
            multipart.encode([(part_type, d) for d in data], boundary),
            content_type=f'multipart/related; type="{OCTET_STREAM}"; boundary={boundary}',
        )


def _image_type(request) -> str:
    for media_type in render.MEDIA_TYPES:
        if http.accepts(request, media_type) is not None:
            return media_type
    raise ApiError("Rendered images are served as image/png or image/jpeg.", 406)


class RenderedView(DicomWebView):
    """WADO-RS rendered (an instance's first frame, or the one frame named) and thumbnail."""

    thumbnail = False

    def get(self, request, study: str, series: str, instance: str, frames: str | None = None):
        media_type = _image_type(request)
        params = request.query_params
        try:
            window = render.parse_window(params["window"]) if params.get("window") else None
            viewport = render.parse_viewport(params["viewport"]) if params.get("viewport") else None
            quality = render.parse_quality(params["quality"]) if params.get("quality") else None
            frame = parse_frame_list(frames, 1 << 30) if frames is not None else [1]
        except (render.RenderError, FrameError) as exc:
            raise ApiError(getattr(exc, "message", str(exc)), 400) from None
        if len(frame) != 1:
            raise ApiError("A rendered image is of one frame.", 400)
        scan = self.retrievable("view", study, series, instance)[0]
        with instances.reading(scan):
            if self.thumbnail and window is None and viewport is None:
                data = self.content.thumbnail(scan, reader=request.user, media_type=media_type)
            else:
                data = self.content.rendered(
                    scan,
                    reader=request.user,
                    media_type=media_type,
                    frame=frame[0],
                    window=window,
                    viewport=viewport,
                    quality=quality,
                )
        return HttpResponse(data, content_type=media_type)
