"""Template context on every page: the red banner of a clinician's open emergency access."""

from portal.breakglass_selectors import open_emergency_accesses, time_left_words


def emergency_access(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(user, "role", "") != "clinician":
        return {}
    rows = open_emergency_accesses(user)
    for bg in rows:
        bg.time_left = time_left_words(bg.seconds_left)
    return {"emergency_accesses": rows}
