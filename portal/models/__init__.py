from portal.models.access import AccessEvent, BreakGlass, Notification
from portal.models.api_clients import ApiClientPolicy
from portal.models.consent import Action, Consent, ConsentStatus, Purpose, ScopeKind
from portal.models.erasure import ErasedScan, ErasureRequest, ErasureStatus
from portal.models.keys import UserKeyPair, WrappedKey
from portal.models.people import Organisation, Role, User, WorkerHeartbeat

__all__ = [
    "AccessEvent",
    "Action",
    "ApiClientPolicy",
    "BreakGlass",
    "Consent",
    "ConsentStatus",
    "ErasedScan",
    "ErasureRequest",
    "ErasureStatus",
    "Notification",
    "Organisation",
    "Purpose",
    "Role",
    "ScopeKind",
    "User",
    "UserKeyPair",
    "WorkerHeartbeat",
    "WrappedKey",
]
