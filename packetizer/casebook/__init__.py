"""The casebook: the web application's cases, builds, submissions, determinations and audit log.

Plain functions over a SQLAlchemy session (the registry's, :mod:`packetizer.registry`),
with no Flask: every door (a web view, a batch thread, a command) calls the
same ones, names who acted with an :class:`~.audit.Actor`, and commits.

* :mod:`.folders`: case folders and build folders in the instance, uploads under server-chosen names;
* :mod:`.cases`: a case's registry row, checked and kept in step with its case file;
* :mod:`.documents`: several documents added to a case at once, all or none, refusals audited;
* :mod:`.lifecycle`: a never-submitted case deleted, a case id corrected before the first build;
* :mod:`.builds`: :func:`~.builds.record_build`, the one place a built packet is recorded;
* :mod:`.tracking`: case status, submissions, requests for information, determinations, the queue;
* :mod:`.outcomes`: how payers decided, and the charts that show it;
* :mod:`.batchimport`: the cases a web batch built join the case list;
* :mod:`.accounts`: accounts added with their audit row, and a new installation's first admin;
* :mod:`.audit`: :func:`~.audit.write_audit`, the one way anything writes the audit log.

Import what you need from its module: importing the package loads nothing.
"""
