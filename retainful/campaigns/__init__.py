"""One-off campaigns to a segment: ``segment`` (who), ``service`` (create, cancel, results), ``sending`` (the batch
expander that writes their outbox rows, and each recipient's templates), ``automation`` (the ``campaign`` kind the
send policy and the dispatcher know). See docs/DESIGN.md, "Campaigns"."""
