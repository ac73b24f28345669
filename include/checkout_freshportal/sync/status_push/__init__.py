"""Status outbox → FreshPortal: push each order's newest status version, never an older one."""
