"""HubSpot deals entered twice (issue 26): a rep logs a deal a colleague had already logged, or a form
and a person both make one. HubSpot merges deals, so the sandbox seeds such pairs with ground truth
(Salesforce has no merge for opportunities: none are seeded there).

A copy is of a live deal that carries no defect: the same amount, stage, pipeline, type and owner, the
same company and contacts (its associations copied), no Salesforce opportunity id (nobody synced it);
its name and close date as people's second entries have them (``COPY_KINDS``: the very same, in
other case, one slip of the keyboard, a close date a few days off). Entered after the original's last
change. Each pair is a cluster in the manifest's duplicates. Made after the tombstones and activities,
on a random stream of its own, so every other table and truth of a seed stays as it was.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from crm_ops.sandbox.generator.common import GenState, copy_pairs
from crm_ops.sandbox.generator.duplicates import _typo
from crm_ops.sandbox.objects import HUBSPOT_OBJECTS

STREAM = 2603
OBJECT = "deals"
DUPLICATED = 0.03  # the share of deals entered twice
COPY_KINDS = ("exact", "name_case", "typo", "close_date_off")
UNSYNCED = ("salesforceopportunityid", "hs_salesforceopportunityid", "hs_merged_object_ids")


class DealCopies(GenState):
    """HubSpot deals entered twice."""

    def deal_copies(
        self, hs: dict[str, pl.DataFrame], associations: dict[tuple[str, str], pl.DataFrame]
    ) -> None:
        """Append a few copies of live, clean deals to ``hs["deals"]``, their associations to
        ``associations``, and each pair to the manifest's duplicates."""
        if self.cfg.defect_rate <= 0:
            return
        rng = np.random.default_rng(self.cfg.seed + STREAM)
        frame = hs[OBJECT]
        ids = frame["id"].cast(pl.String)
        taken = pl.Series(sorted({d["record_id"] for d in self.defects}), dtype=pl.String).implode()
        clean = (~frame["archived"].fill_null(False) & ~ids.is_in(taken)).arg_true().to_numpy()
        k = min(len(clean), max(1, int(frame.height * DUPLICATED)))
        if k == 0:
            return
        rows = np.sort(rng.choice(clean, k, replace=False))
        kinds = np.asarray(COPY_KINDS, dtype=object)[rng.integers(0, len(COPY_KINDS), k)]
        shift = np.where(kinds == "close_date_off", rng.choice([-5, -3, -2, 2, 3, 5], k), 0)
        originals = frame[rows.tolist()]
        names = []
        for kind, name in zip(kinds.tolist(), originals["dealname"].to_list(), strict=True):
            text = str(name or "")
            names.append(
                text.lower() if kind == "name_case" else _typo(rng, text) if kind == "typo" else text
            )
        new_ids = HUBSPOT_OBJECTS[OBJECT].id_base + frame.height + np.arange(k)
        nulls = {c: pl.lit(None, dtype=frame.schema[c]) for c in UNSYNCED if c in frame.columns}
        copies = originals.with_columns(
            pl.Series("id", new_ids, dtype=frame.schema["id"]),
            pl.Series("dealname", names, dtype=pl.String),
            pl.col("closedate") + pl.duration(days=pl.lit(pl.Series(shift.tolist(), dtype=pl.Int64))),
            pl.col("hs_lastmodifieddate").alias(
                "createdate"
            ),  # entered again after the original's last change
            **nulls,
        )
        hs[OBJECT] = pl.concat([frame, copies])
        of = dict(zip(originals["id"].to_list(), new_ids.tolist(), strict=True))
        for key, links in list(associations.items()):
            # its company and contacts (its line items, quotes, meetings are the original's own)
            if OBJECT not in key or not {"contacts", "companies"} & set(key):
                continue
            column = "from_id" if key[0] == OBJECT else "to_id"
            mine = links.filter(pl.col(column).is_in(list(of)))
            if mine.height:
                moved = mine.with_columns(
                    pl.col(column).replace_strict(of, return_dtype=links.schema[column])
                )
                associations[key] = pl.concat([links, moved.select(links.columns)])
        self.duplicates += copy_pairs("hubspot", OBJECT, rows.tolist(), kinds.tolist(), ids, new_ids.tolist())
