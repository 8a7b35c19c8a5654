"""DICOMweb (PS3.18) at /dicomweb: QIDO-RS search, WADO-RS retrieve, STOW-RS store.

    urls       the resources and their names (namespace ``dicomweb``)
    views      thin: authentication (session or OAuth bearer with scans:read / scans:write),
               purpose of use, parameters, responses
    selectors  which instances (scans) a caller may see or retrieve, each decided by the policy
               decision point and recorded; QIDO result rows
    instances  the bytes of one instance for one reader: decrypted per request, streamed
    services   STOW-RS: each part through the upload path of the web form and the API
    research   a research purpose (HRESCH): pseudonymous UIDs, de-identified instances only
    http       CORS, COOP/COEP/CORP, Accept negotiation, bounded request bodies

The hierarchy the resources name (study, series, instance = scan) is imaging.hierarchy; the
DICOM pieces without Django are imaging.dicom.
"""
