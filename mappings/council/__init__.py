"""Council batch files (CSV) -> register commands. `decode(body, la_gss)` is the one entry
point, shared by `s117 import council` and the AMQP worker (routing key `council.<la-gss>`
on `s117.inbound`): see docs/council.md."""

from mappings.council.feed import (
    CouncilBatch,
    FileRefused,
    PersonGroup,
    RowReport,
    decode,
    plan_id_for,
)

__all__ = ["CouncilBatch", "FileRefused", "PersonGroup", "RowReport", "decode", "plan_id_for"]
