"""People and permissions: accounts, roles, per-collection grants, sign-in, API keys and
the audit trail, in one SQLite file at the top of the index directory."""

from rag.users.accounts import Accounts, SignInError, User, operator
from rag.users.audit import AuditLog

__all__ = ["Accounts", "AuditLog", "SignInError", "User", "operator"]
