import audit
from audit import AuditAction
from tests.tenancy import row_maker


@row_maker("audit.auditevent")
def audit_event(org):
    return audit.record(AuditAction.ORGANIZATION_SETTINGS_CHANGED, organization=org)
