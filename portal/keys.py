"""Key service: readers' key pairs and the data keys wrapped for them.

The maths is in crypto.hybrid_kem (ML-KEM-768 + X25519, HKDF-SHA256, AES-GCM wrap);
this module stores keys and answers "wrap this data key for that reader" / "unwrap it for
me". The wrap context binds object id and reader, so a wrap copied to another row fails.
"""

import uuid

from django.db import IntegrityError, transaction
from django.db.models import Q, Subquery

from core import keyvault
from crypto import hybrid_kem
from portal.models import Role, User, UserKeyPair, WrappedKey


class KeyAccessError(Exception):
    """The reader holds no key for this object (never granted, or revoked)."""


def _seal_context(fingerprint: str) -> str:
    return f"portal.keypair:{fingerprint}"


def _wrap_context(object_id: uuid.UUID, reader: User | None) -> bytes:
    return _wrap_context_id(object_id, reader.pk if reader else None)


def _wrap_context_id(object_id: uuid.UUID, reader_id) -> bytes:
    return f"qmedchain.datakey:{object_id}:{reader_id if reader_id is not None else 'system'}".encode()


def wrap_context(object_id: uuid.UUID, reader: User | None) -> bytes:
    """What a wrap of `object_id` for `reader` is bound to: a peer's clinician unwraps with it
    at their own node (the node API hands it over with the wrap)."""
    return _wrap_context(object_id, reader)


def keypair_for(reader: User | None) -> UserKeyPair:
    """The reader's key pair (the system's for None), created on first use. A remote
    clinician's is never created here: only its node holds the private key, and its public
    key comes from that node's signed directory (`set_remote_public_key`)."""
    lookup = {"user": reader} if reader else {"is_system": True}
    existing = UserKeyPair.objects.filter(**lookup).first()
    if existing:
        return existing
    if reader is not None and reader.role == Role.REMOTE_CLINICIAN:
        raise KeyAccessError("a remote clinician's key comes from its node's directory; none is known")
    public, private = hybrid_kem.generate_keypair()
    fingerprint = hybrid_kem.key_fingerprint(public)
    try:
        with transaction.atomic():
            return UserKeyPair.objects.create(
                user=reader,
                is_system=reader is None,
                public_key=public,
                sealed_private_key=keyvault.seal(private, context=_seal_context(fingerprint)),
                fingerprint=fingerprint,
            )
    except IntegrityError:  # another process created it first
        return UserKeyPair.objects.get(**lookup)


def set_remote_public_key(user: User, public_key: bytes) -> UserKeyPair:
    """Store (or replace) the public key a remote clinician's node published for it, with no
    private key. ValueError for a key that is not a hybrid public key."""
    if user.role != Role.REMOTE_CLINICIAN:
        raise ValueError("only a remote clinician's public key comes from elsewhere")
    fingerprint = hybrid_kem.key_fingerprint(public_key)  # checks the key's form
    row, _ = UserKeyPair.objects.update_or_create(
        user=user,
        defaults={
            "is_system": False,
            "public_key": public_key,
            "sealed_private_key": b"",
            "fingerprint": fingerprint,
        },
    )
    return row


def wrap_for(*, object_id: uuid.UUID, patient: User, data_key: bytes, reader: User | None) -> WrappedKey:
    keypair = keypair_for(reader)
    wrapped = hybrid_kem.wrap(bytes(keypair.public_key), data_key, context=_wrap_context(object_id, reader))
    row, _ = WrappedKey.objects.update_or_create(
        object_id=object_id, reader=reader, defaults={"wrapped": wrapped, "patient": patient}
    )
    return row


def public_keys_of(reader_ids: list, *, known: dict) -> dict:
    """{reader id or None (the system): public key} for `reader_ids`, from `known` (read
    beforehand, e.g. with the caller's other reads; a superset is fine). No query unless a
    reader has no key pair yet: one is made. A reader deleted meanwhile is left out."""
    missing = [i for i in reader_ids if i not in known]
    found = {i: known[i] for i in reader_ids if i in known}
    if missing:
        users = User.objects.in_bulk([i for i in missing if i is not None])
        for i in missing:
            if i is None or i in users:
                found[i] = bytes(keypair_for(users[i] if i is not None else None).public_key)
    return found


def wrap_for_keys(*, patient_id, data_keys: dict, publics: dict) -> None:
    """Wrap each NEW object's data key ({object_id: data_key}) for each reader of `publics`
    ({reader id or None: public key}, see `public_keys_of`): one hybrid KEM wrap per (object,
    reader), rows written in one statement. An
    object that already has wraps is refused by the one-wrap-per-(object, reader)
    constraint (IntegrityError)."""
    _bulk_wrap(patient_id, data_keys, publics)


def holder_keys_query(*, source):
    """The public keys `wrap_like` wraps for: the system's and those of the readers holding a
    wrap of `source` (object ids, or a query of them), as one ``values_list`` query."""
    holders = WrappedKey.objects.filter(object_id__in=source, reader__isnull=False).values("reader_id")
    return UserKeyPair.objects.filter(Q(user_id__in=holders) | Q(is_system=True)).values_list(
        "user_id", "public_key"
    )


def wrap_like(*, source, patient_id, data_keys: dict) -> None:
    """Wrap each new object's data key ({object_id: data_key}) for the system and for exactly
    the readers holding a wrap of `source` (object ids, or a query of them).

    For objects derived from the source: consent and break-glass changes keep every stored
    object's wraps in step with who may read the scan (`sync_reader_wraps`), so the
    source's wraps are the scan's readers."""
    publics = {user_id: bytes(public) for user_id, public in holder_keys_query(source=source)}
    if None not in publics:
        publics[None] = bytes(keypair_for(None).public_key)
    _bulk_wrap(patient_id, data_keys, publics)


def _bulk_wrap(patient_id, data_keys: dict, publics: dict) -> None:
    """One WrappedKey row per (object, reader) in one statement; `publics` is {reader id or
    None (the system): public key}."""
    WrappedKey.objects.bulk_create(
        [
            WrappedKey(
                object_id=object_id,
                patient_id=patient_id,
                reader_id=reader_id,
                wrapped=hybrid_kem.wrap(public, data_key, context=_wrap_context_id(object_id, reader_id)),
            )
            for object_id, data_key in data_keys.items()
            for reader_id, public in publics.items()
        ],
    )


def _keypair_columns(reader: User | None) -> dict:
    """Annotations reading `reader`'s sealed private key (the system's for None)."""
    keypair = UserKeyPair.objects.filter(Q(is_system=True) if reader is None else Q(user_id=reader.pk))
    return {
        "sealed": Subquery(keypair.values("sealed_private_key")[:1]),
        "fingerprint": Subquery(keypair.values("fingerprint")[:1]),
    }


def wrap_columns(*, reader: User | None, object_ref) -> dict:
    """Annotations that read, with the object's row, its data key wrapped for `reader` (the
    system for None) and that reader's sealed private key: ``wrapped``, ``sealed``,
    ``fingerprint``. `object_ref`: the object id, or an OuterRef to it."""
    wrap = WrappedKey.objects.filter(object_id=object_ref, reader=reader)
    return {"wrapped": Subquery(wrap.values("wrapped")[:1]), **_keypair_columns(reader)}


def unwrap_columns(*, object_id: uuid.UUID, reader: User | None, wrapped, sealed, fingerprint) -> bytes:
    """The data key from the values `wrap_columns` read."""
    if wrapped is None:
        raise KeyAccessError("no data key is wrapped for this reader")
    if sealed is None:
        raise KeyAccessError("the reader has no key pair")
    if not bytes(sealed):
        raise KeyAccessError("the reader's private key is held by its own node, not here")
    private = keyvault.unseal(bytes(sealed), context=_seal_context(fingerprint))
    try:
        return hybrid_kem.unwrap(private, bytes(wrapped), context=_wrap_context(object_id, reader))
    except hybrid_kem.UnwrapError as exc:
        raise KeyAccessError("the wrapped data key failed authentication") from exc


def unwrap_for(*, object_id: uuid.UUID, reader: User | None) -> bytes:
    """The data key of `object_id` wrapped for `reader` (the system for None); the wrap and
    the reader's sealed private key are read in one query."""
    row = (
        WrappedKey.objects.filter(object_id=object_id, reader=reader)
        .annotate(**_keypair_columns(reader))
        .values("wrapped", "sealed", "fingerprint")
        .first()
    )
    if row is None:
        raise KeyAccessError("no data key is wrapped for this reader")
    return unwrap_columns(object_id=object_id, reader=reader, **row)


def delete_wraps(*, reader: User, object_ids) -> int:
    deleted, _ = WrappedKey.objects.filter(reader=reader, object_id__in=list(object_ids)).delete()
    return deleted


def unwrap_received(*, reader: User, wrapped: bytes, context: bytes) -> bytes:
    """A data key that another node wrapped for `reader`'s published public key (its signed
    directory entry there), bound to that node's `context`: the clinician's side of the
    exchange (`federation.remote`). KeyAccessError when this node holds no private key for
    the reader or the wrap does not open with it."""
    keypair = UserKeyPair.objects.filter(user=reader).values_list("sealed_private_key", "fingerprint").first()
    if keypair is None or not bytes(keypair[0]):
        raise KeyAccessError("this node holds no private key for the reader")
    private = keyvault.unseal(bytes(keypair[0]), context=_seal_context(keypair[1]))
    try:
        return hybrid_kem.unwrap(private, bytes(wrapped), context=context)
    except hybrid_kem.UnwrapError as exc:
        raise KeyAccessError("the wrapped data key failed authentication") from exc
