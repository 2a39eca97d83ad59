"""Who gets an alert: the target's own recipients, its tags' recipients, then the defaults.

Kept apart from the rules so the digest (which groups several targets) resolves addresses the
same way a single change alert does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import EmailConfig



def resolve_recipients(email: EmailConfig, target_recipients: Iterable[str] = (),
                       tags: Iterable[str] = ()) -> list[str]:
    """Deduplicated (case-insensitively), in a stable order: target, tags, global default."""
    ordered: list[str] = list(target_recipients)
    for tag in tags:
        ordered.extend(email.tags.get(tag, []))
    ordered.extend(email.recipients)
    seen: set[str] = set()
    result: list[str] = []
    for address in ordered:
        address = address.strip()
        key = address.lower()
        if address and key not in seen:
            seen.add(key)
            result.append(address)
    return result
