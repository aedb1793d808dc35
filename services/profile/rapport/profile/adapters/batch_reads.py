"""Reads an ingest batch makes of segment state, built once: a statement built per
call with a list of customers costs hundreds of microseconds (every listed value is
coerced); here the list goes as an expanding parameter and the SQL sent is the same."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from .tables import customer_states, segment_members, traits

_BY_CUSTOMERS = bindparam("customers", expanding=True)
MEMBERSHIPS_OF = select(segment_members.c.customer_id, segment_members.c.segment_id).where(
    segment_members.c.workspace == bindparam("workspace"),
    segment_members.c.customer_id.in_(_BY_CUSTOMERS),
)
TRAIT_VALUES_OF = select(traits.c.customer_id, traits.c.key, traits.c.value).where(
    traits.c.workspace == bindparam("workspace"),
    traits.c.customer_id.in_(_BY_CUSTOMERS),
    traits.c.removed.is_(None),
)
STATES_OF = select(customer_states.c.customer_id, customer_states.c.life_stage).where(
    customer_states.c.workspace == bindparam("workspace"),
    customer_states.c.customer_id.in_(_BY_CUSTOMERS),
)
