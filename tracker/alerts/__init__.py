"""Email alerts: rules decide what to say, compose says it, the outbox makes sure it is said once.

The pipeline is one-way: :mod:`.rules` runs inside a check's transaction and writes
:class:`~tracker.models.Alert` rows (the outbox); :mod:`.outbox` later claims due rows and
hands them to :mod:`.mailer`; :mod:`.digest` batches non-material changes. Writing before
sending is what makes alerts survive crashes and SMTP outages.
"""
