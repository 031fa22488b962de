"""The five roles of a room: their numbers on the wire (``roomrole``, ``usertype``,
``userrole``, the ``role`` property) and which of them are super users.

The one home of these facts: the room rules, the Web API, the store, the media plane and the
SDK all import them from here.
"""

from __future__ import annotations

TEACHER, ASSISTANT, STUDENT, VIEWER, INSPECTOR = 0, 1, 2, 3, 4
ROLES = (TEACHER, ASSISTANT, STUDENT, VIEWER, INSPECTOR)
SUPER_ROLES = frozenset((TEACHER, ASSISTANT))
# how logs and metric labels name them
NAMES = {TEACHER: "teacher", ASSISTANT: "assistant", STUDENT: "student", VIEWER: "viewer",
         INSPECTOR: "inspector"}
