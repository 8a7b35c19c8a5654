"""DIMSE for modalities and PACS (PS3.7, PS3.4): ``python manage.py dicom_scp`` runs a Storage
SCP with C-ECHO and study-level C-FIND.

    scp        the pynetdicom application entity and its handlers (thin): association
               acceptance by calling AE title, C-ECHO, C-STORE, C-FIND
    selectors  the peer an association comes from, the patient an instance is linked to, the
               reconciliation queue
    services   the organisation's DICOM node identity, receiving an instance (into the upload
               path of STOW-RS, or into the reconciliation queue), linking a DICOM Patient ID to
               a patient, attaching queued instances
    matching   the keyed hash that stands for a DICOM Patient ID
    vault      the queued instances' bytes: sealed for the system key, opened for a clinician
    find       study-level C-FIND answered from the QIDO-RS selectors
    views      /scans/reconcile/: a clinician attaches queued instances to a patient

Who is who: a `DicomPeer` (admin-editable) names an organisation's device by calling AE title
and, optionally, host; every other caller is refused at association (A-ASSOCIATE-RJ, "calling
AE title not recognised"), logged with its AE title and address only. What a peer stores and
finds, it does as its organisation's DICOM node (a user with role ``dicom_node``), which the
organisation's consents cover as they cover its clinicians (portal.policy), with the purpose
of use TREAT. The DICOM pieces without Django are imaging.dicom.dimse.
"""
