"""Staff: the accounts and roles of the people who run the bot (services, no HTTP).

    accounts.py      StaffAccounts: add, list, remove, check a password (argon2 via pwdlib)
    sessions.py      StaffSessions: a signed-in browser's session, its CSRF token, its expiry
    login_limits.py  LoginLimiter: failed sign-ins counted per account and per address
    roles.py         viewer < editor < admin
    tables.py        staff_users, staff_sessions
    services.py      StaffServices, mixed into `chatbot.services.Services`
    analytics.py     AnalyticsServices: counts, rates and latency of the log for a date range
                     (its SQL in analytics_queries.py)

The console (ui/console) and the CLI (`chatbot user …`) call `StaffServices` only.
"""
