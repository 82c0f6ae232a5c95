"""The staff console at /admin and the staff API under /api/admin (DESIGN.md "Packages and layout").

    auth.py        the session cookie, `require_role(...)` (one dependency for every staff route), CSRF
    pages.py       /admin/login, /admin/logout, /admin (plain HTML forms, no external resources)
    html.py        the pages' shared frame and headers
    entry_pages.py /admin/entries: search and filter, an entry's form (create, edit, delete), export
    entry_views.py the editor pages' HTML
    import_pages.py /admin/imports: upload, then a progress bar and the per-row report
    uploads.py     the upload size limit and the multipart form's files
    api_routes.py  /api/admin/*: entries, hit test, conversations, accounts (each one service call)
    import_api_routes.py /api/admin/imports and /api/admin/entries/export
    schemas.py     the staff API's request and response bodies
    conversation_api.py, conversation_pages.py, inbox_pages.py, log_look.py, conversation_schemas.py
                   the conversation log: search, transcripts with traces, exports, the hand-off
                   inbox, privacy deletions (pages and API; `conversation_console` includes them)

Every route checks the role on the server; anonymous API calls get a 401, pages a redirect to
the sign-in form; a state-changing request needs its session's CSRF token.
"""
