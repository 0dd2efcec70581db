"""Products and line items (issue 26): Salesforce ``Product2``, ``PricebookEntry`` (the standard price book)
and ``OpportunityLineItem``; HubSpot's product library ``products`` and ``line_items`` associated with
deals; with a few seeded defects.

Volume: a catalogue of ``len(CATALOG)`` products on each CRM, and 1 to 4 product lines on ``WITH_LINES``
of the live opportunities and deals that have an amount (HubSpot adds one services line of its own to
each, see below), so a few line items per opportunity.

Built from random streams of their own (the seed plus ``STREAM``) after the tombstones are chosen, so
every other table and ground truth of a seed stays exactly what it was without them: the opportunities'
and deals' amounts are given, and the line items are cut to add up to them.

- Salesforce keeps an opportunity's Amount to the sum of its line items' TotalPrice while it has any, so
  the lines of each opportunity add up to its Amount to the cent (TotalPrice given, UnitPrice its share
  of one unit, never above the entry's ListPrice); the org also refuses to delete a product that is on a
  line item, so no Salesforce line points at a deleted product.
- HubSpot keeps nothing: a deal's amount is a property of its own. Each deal's product lines take a share
  of its amount at a unit price never above the product's, and one services line without a product (made
  in the deal's line item editor) takes the rest, so the lines add up to the amount to the cent.

Ground truth (the manifest's defects): ``line_item_total`` (a HubSpot deal whose line items do not add up
to its amount: a line added after the amount was set), ``line_item_negative_quantity`` (a line with a
negative quantity; another line of its opportunity carries the difference, so the total still holds),
``line_item_above_list`` (a unit price above the list price or the product's price: a line moved to a
cheaper product without its price) and, on HubSpot, ``line_item_deleted_product`` (a line whose product
was deleted from the library; ``RETIRED`` products are archived).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox.generator.common import GenState, _frame, _timestamps, defect
from crm_ops.sandbox.objects import ASSOCIATION_TYPES, HUBSPOT_OBJECTS, SALESFORCE_OBJECTS, sf_ids

STREAM = 2626
WITH_LINES = 0.7
MAX_LINES = 4
TOTAL, NEGATIVE, ABOVE_LIST, DELETED_PRODUCT = 0.03, 0.01, 0.01, 0.01
# name, product code, family, list price
CATALOG = (
    ("Platform Starter", "PLT-STR", "Software", 1_200.0),
    ("Platform Professional", "PLT-PRO", "Software", 4_800.0),
    ("Platform Enterprise", "PLT-ENT", "Software", 18_000.0),
    ("Analytics Add-on", "ADD-ANL", "Software", 2_400.0),
    ("Integration Add-on", "ADD-INT", "Software", 3_600.0),
    ("Additional Seat", "SEAT-01", "Software", 240.0),
    ("Sandbox Environment", "ENV-SBX", "Software", 6_000.0),
    ("Onboarding Package", "SRV-ONB", "Services", 5_000.0),
    ("Training Day", "SRV-TRN", "Services", 1_500.0),
    ("Consulting Hour", "SRV-HR", "Services", 200.0),
    ("Premium Support", "SUP-PRM", "Support", 9_600.0),
    ("Standard Support", "SUP-STD", "Support", 2_400.0),
    ("Edge Appliance", "HW-EDGE", "Hardware", 7_500.0),
    ("Badge Reader", "HW-BADGE", "Hardware", 350.0),
)
# products of HubSpot's library deleted after they were sold (their lines keep the product id)
RETIRED = (
    ("Legacy Connector", "LEG-CON", "Software", 1_800.0),
    ("Platform Classic", "PLT-CLS", "Software", 3_000.0),
)
SERVICES_LINE = "Implementation services"
NEGATIVE_KIND, ABOVE_KIND, TOTAL_KIND, GONE_KIND = (
    "line_item_negative_quantity",
    "line_item_above_list",
    "line_item_total",
    "line_item_deleted_product",
)


def _among(ids: np.ndarray, taken: set[str]) -> np.ndarray:
    """Whether each id (as text) is one of ``taken``."""
    text = pl.Series(ids).cast(pl.String)
    return text.is_in(pl.Series(list(taken), dtype=pl.String).implode()).to_numpy()


def _lines(rng: np.random.Generator, amounts: np.ndarray, prices: np.ndarray) -> dict[str, np.ndarray]:
    """1 to ``MAX_LINES`` product lines per amount (in cents): the parent's row, the product, quantity,
    unit price and total (cents), the totals of a parent adding up to its amount, no unit price above
    the product's."""
    k = rng.integers(1, MAX_LINES + 1, len(amounts))
    parent = np.repeat(np.arange(len(amounts)), k)
    weight = 0.3 + rng.gamma(1.0, 1.0, len(parent))
    share = weight / np.bincount(parent, weight)[parent]
    total = np.floor(amounts[parent] * share).astype(np.int64)
    last = np.cumsum(k) - 1  # the last line of each parent takes the rounding
    total[last] += amounts - np.bincount(parent, total, minlength=len(amounts)).astype(np.int64)
    product = rng.integers(0, len(prices), len(parent))
    quantity = np.maximum(1, -(-total // prices[product]))  # enough units at the list price
    unit = (total + quantity // 2) // quantity  # the unit price, rounded to the cent: never above
    return {"parent": parent, "product": product, "quantity": quantity, "unit": unit, "total": total}


class Products(GenState):
    """The products and line items of both CRMs."""

    def products(
        self,
        sf: dict[str, pl.DataFrame],
        hs: dict[str, pl.DataFrame],
        associations: dict[tuple[str, str], pl.DataFrame],
    ) -> list[dict[str, Any]]:
        """``Product2``, ``PricebookEntry`` and ``OpportunityLineItem`` into ``sf``; ``products`` and
        ``line_items`` (associated with their deals) into ``hs``; returns the deleted products."""
        rng = np.random.default_rng(self.cfg.seed + STREAM)
        self._sf_products(rng, sf)
        return self._hs_products(np.random.default_rng(self.cfg.seed + STREAM + 1), hs, associations)

    def _stamps(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        created = _timestamps(rng, self.today, n, 700, 1)
        end = np.datetime64(datetime.combine(self.today, datetime.min.time()), "ms")
        return created, np.minimum(
            created + (rng.uniform(0, 30, n) * 86_400_000).astype("timedelta64[ms]"), end
        )

    def _take(self, rng: np.random.Generator, pool: np.ndarray, n: int, share: float) -> list[int]:
        k = min(len(pool), self._seeded(n, share)) if n else 0
        return sorted(rng.choice(pool, k, replace=False).tolist()) if k else []

    # ------------------------------------------------------------------------------------ Salesforce

    def _sf_products(self, rng: np.random.Generator, sf: dict[str, pl.DataFrame]) -> None:
        n = len(CATALOG)
        product_ids = sf_ids(SALESFORCE_OBJECTS["Product2"].key_prefix, 0, n).to_numpy()
        entry_ids = sf_ids(SALESFORCE_OBJECTS["PricebookEntry"].key_prefix, 0, n).to_numpy()
        names, codes, families, list_prices = (
            np.asarray(c, dtype=object) for c in zip(*CATALOG, strict=True)
        )
        created, modified = self._stamps(rng, n)
        audit = {
            "CreatedDate": created,
            "CreatedById": self.user_ids[0],
            "LastModifiedDate": modified,
            "LastModifiedById": self.user_ids[0],
            "SystemModstamp": modified,
            "IsDeleted": False,
            "IsArchived": False,
        }
        sf["Product2"] = _frame(
            SALESFORCE_OBJECTS["Product2"].schema(),
            {
                "Id": product_ids,
                "Name": names,
                "ProductCode": codes,
                "Family": families,
                "StockKeepingUnit": codes,
                "IsActive": True,
                "QuantityUnitOfMeasure": np.where(families == "Services", "Hours", "Each"),
                **audit,
            },
            n,
        )
        standard = sf_ids("01s", 0, 1)[0]  # the org's standard price book
        sf["PricebookEntry"] = _frame(
            SALESFORCE_OBJECTS["PricebookEntry"].schema(),
            {
                "Id": entry_ids,
                "Name": names,
                "Pricebook2Id": standard,
                "Product2Id": product_ids,
                "UnitPrice": list_prices.astype(float),
                "IsActive": True,
                "UseStandardPrice": False,
                "ProductCode": codes,
                **audit,
            },
            n,
        )
        opps = sf["Opportunity"].filter(~pl.col("IsDeleted") & (pl.col("Amount").fill_null(0) >= 100))
        opps = opps.filter(pl.Series(rng.random(opps.height) < WITH_LINES))
        cents = np.round(opps["Amount"].to_numpy() * 100).astype(np.int64)
        prices = np.round(list_prices.astype(float) * 100).astype(np.int64)
        line = _lines(rng, cents, prices)
        m = len(line["parent"])
        ids = sf_ids(SALESFORCE_OBJECTS["OpportunityLineItem"].key_prefix, 0, m).to_numpy()
        product, quantity, unit, total = line["product"], line["quantity"], line["unit"], line["total"]
        first = np.r_[0, np.flatnonzero(np.diff(line["parent"])) + 1]
        pairs = [
            (int(r), int(r) + 1) for r in first if r + 1 < m and line["parent"][r + 1] == line["parent"][r]
        ]
        for row, other in self._pairs(rng, pairs, m, NEGATIVE):
            # a credit line: the quantity negative, another line of the opportunity carrying the difference
            total[other] += 2 * total[row]
            quantity[other] = max(1, -(-total[other] // prices[product[other]]))
            unit[other] = (total[other] + quantity[other] // 2) // quantity[other]
            self.defects.append(
                defect(
                    NEGATIVE_KIND,
                    "salesforce",
                    "OpportunityLineItem",
                    str(ids[row]),
                    "Quantity",
                    -quantity[row],
                    quantity[row],
                )
            )
            quantity[row], total[row] = -quantity[row], -total[row]
        self._above_list(rng, "salesforce", "OpportunityLineItem", ids, line, prices, "UnitPrice")
        opp_rows = line["parent"]
        created, modified = self._stamps(rng, m)
        opp_names = opps["Name"].to_numpy()[opp_rows]
        sf["OpportunityLineItem"] = _frame(
            SALESFORCE_OBJECTS["OpportunityLineItem"].schema(),
            {
                "Id": ids,
                "OpportunityId": opps["Id"].to_numpy()[opp_rows],
                "SortOrder": np.concatenate([np.arange(c) for c in np.bincount(opp_rows)]) + 1,
                "PricebookEntryId": entry_ids[product],
                "Product2Id": product_ids[product],
                "ProductCode": codes[product],
                "Name": np.asarray(
                    [f"{o} {p}" for o, p in zip(opp_names, names[product], strict=True)], dtype=object
                ),
                "Quantity": quantity.astype(float),
                "UnitPrice": unit / 100,
                "ListPrice": prices[product] / 100,
                "TotalPrice": total / 100,
                "Subtotal": quantity * unit / 100,
                **audit,
                "CreatedDate": created,
                "LastModifiedDate": modified,
                "SystemModstamp": modified,
            },
            m,
        )

    # ------------------------------------------------------------------------------------ HubSpot

    def _hs_products(
        self,
        rng: np.random.Generator,
        hs: dict[str, pl.DataFrame],
        associations: dict[tuple[str, str], pl.DataFrame],
    ) -> list[dict[str, Any]]:
        catalog = CATALOG + RETIRED
        n = len(catalog)
        obj = HUBSPOT_OBJECTS["products"]
        product_ids = np.arange(obj.id_base, obj.id_base + n, dtype=np.int64)
        names, codes, _, list_prices = (np.asarray(c, dtype=object) for c in zip(*catalog, strict=True))
        created, modified = self._stamps(rng, n)
        retired = np.arange(len(CATALOG), n)
        stop = datetime.combine(self.today, datetime.min.time(), tzinfo=UTC)
        gone_at = [stop - timedelta(days=int(d)) for d in rng.integers(1, 60, len(retired))]
        archived_at: list[datetime | None] = [None] * len(CATALOG) + gone_at
        hs["products"] = _frame(
            obj.schema(),
            {
                "id": product_ids,
                "name": names,
                "hs_sku": codes,
                "price": list_prices.astype(float),
                "hs_product_type": np.where(
                    np.asarray([c[2] for c in catalog]) == "Services", "service", "non_inventory"
                ),
                "createdate": created,
                "hs_lastmodifieddate": modified,
                "archived": np.arange(n) >= len(CATALOG),
            },
            n,
        ).with_columns(pl.Series("archivedAt", archived_at, dtype=pl.Datetime("ms", "UTC")))
        deleted = [
            {"system": "hubspot", "object": "products", "record_id": str(product_ids[r]), "deleted_at": s}
            for r, s in zip(retired.tolist(), gone_at, strict=True)
        ]
        deals = hs["deals"].filter(
            ~pl.col("archived").fill_null(False) & (pl.col("amount").fill_null(0) >= 100)
        )
        deals = deals.filter(pl.Series(rng.random(deals.height) < WITH_LINES))
        cents = np.round(deals["amount"].to_numpy() * 100).astype(np.int64)
        prices = np.round(list_prices.astype(float) * 100).astype(np.int64)
        live_prices = prices[: len(CATALOG)]
        # the product lines take most of the amount; a services line of each deal takes the rest
        line = _lines(rng, np.maximum(1, cents * 9 // 10), live_prices)
        line["unit"] = line["total"] // line["quantity"]  # HubSpot's amount is quantity x price
        line["total"] = line["unit"] * line["quantity"]
        k = len(deals)
        rest = cents - np.bincount(line["parent"], line["total"], minlength=k).astype(np.int64)
        services = {
            "parent": np.arange(k),
            "product": np.full(k, -1),
            "quantity": np.ones(k, dtype=np.int64),
            "unit": rest,
            "total": rest,
        }
        order = np.argsort(np.r_[line["parent"], np.arange(k)], kind="stable")
        line = {key: np.r_[line[key], services[key]][order] for key in line}
        m = len(line["parent"])
        obj = HUBSPOT_OBJECTS["line_items"]
        ids = np.arange(obj.id_base, obj.id_base + m, dtype=np.int64)
        product, quantity, unit, total, parent = (
            line[c] for c in ("product", "quantity", "unit", "total", "parent")
        )
        is_services = product < 0
        deal_ids = deals["id"].to_numpy()
        services_of = np.flatnonzero(is_services)  # the services line of each deal, in deal order
        sold = np.flatnonzero(~is_services)
        pairs = list(zip(sold.tolist(), services_of[parent[sold]].tolist(), strict=True))
        for row, other in self._pairs(rng, pairs, m, NEGATIVE):
            total[other] += 2 * total[row]
            unit[other] = total[other]
            self.defects.append(
                defect(
                    NEGATIVE_KIND,
                    "hubspot",
                    "line_items",
                    str(ids[row]),
                    "quantity",
                    -quantity[row],
                    quantity[row],
                )
            )
            quantity[row], total[row] = -quantity[row], -total[row]
        taken = {d["record_id"] for d in self.defects}
        clean = np.flatnonzero(~is_services & ~_among(ids, taken))
        for row in self._take(rng, clean, m, DELETED_PRODUCT):
            # sold from a product since deleted from the library: the line keeps its id, name and price
            product[row] = len(CATALOG) + int(rng.integers(0, len(RETIRED)))
            self.defects.append(
                defect(
                    GONE_KIND,
                    "hubspot",
                    "line_items",
                    str(ids[row]),
                    "hs_product_id",
                    product_ids[product[row]],
                    None,
                )
            )
        self._above_list(rng, "hubspot", "line_items", ids, line, prices, "price", among=len(CATALOG))
        # deals whose lines changed after their amount was set: a line added, the amount kept
        extra = self._take(rng, np.arange(k), k, TOTAL)
        added = len(extra)
        for i, deal in enumerate(extra):
            pick = int(rng.integers(0, len(CATALOG)))
            self.defects.append(
                defect(
                    TOTAL_KIND,
                    "hubspot",
                    "deals",
                    str(deal_ids[deal]),
                    "amount",
                    cents[deal] / 100,
                    (cents[deal] + live_prices[pick]) / 100,
                )
            )
            parent, product = np.r_[parent, deal], np.r_[product, pick]
            quantity, unit, total = (
                np.r_[quantity, 1],
                np.r_[unit, live_prices[pick]],
                np.r_[total, live_prices[pick]],
            )
            ids = np.r_[ids, obj.id_base + m + i]
        m += added
        created, modified = self._stamps(rng, m)
        has = product >= 0
        safe = np.where(has, product, 0)
        none = np.full(m, None, dtype=object)
        hs["line_items"] = _frame(
            obj.schema(),
            {
                "id": ids,
                "name": np.where(has, names[safe], SERVICES_LINE),
                "hs_product_id": np.where(has, product_ids[safe].astype(object), none),
                "hs_sku": np.where(has, codes[safe], none),
                "quantity": quantity.astype(float),
                "price": unit / 100,
                "amount": total / 100,
                "hs_pre_discount_amount": total / 100,
                "createdate": created,
                "hs_lastmodifieddate": modified,
                "archived": False,
            },
            m,
        )
        key = ("line_items", "deals")
        associations[key] = pl.DataFrame(
            {"from_id": ids, "to_id": deal_ids[parent], "type_id": np.full(m, ASSOCIATION_TYPES[key])},
            schema={"from_id": pl.Int64, "to_id": pl.Int64, "type_id": pl.Int32},
        )
        return deleted

    # ------------------------------------------------------------------------------------ shared

    def _pairs(
        self, rng: np.random.Generator, pairs: list[tuple[int, int]], n: int, share: float
    ) -> list[tuple[int, int]]:
        """``share`` of ``n`` of the (line, other line of its parent) pairs, no line in two of them."""
        chosen: list[tuple[int, int]] = []
        used: set[int] = set()
        for i in self._take(rng, np.arange(len(pairs)), n, share):
            row, other = pairs[i]
            if row not in used and other not in used:
                chosen.append((row, other))
                used |= {row, other}
        return chosen

    def _above_list(
        self,
        rng: np.random.Generator,
        system: str,
        obj: str,
        ids: np.ndarray,
        line: dict[str, np.ndarray],
        prices: np.ndarray,
        field: str,
        among: int | None = None,
    ) -> None:
        """Move ``ABOVE_LIST`` of the clean lines to the cheapest product, keeping their unit price (a line
        whose product was changed without its price): their unit price is then above the list price."""
        cheapest = int(np.argmin(prices[:among]))
        taken = {d["record_id"] for d in self.defects}
        pool = np.flatnonzero(
            (line["product"] >= 0)
            & (line["unit"] > prices[cheapest] * 1.1)
            & (line["quantity"] > 0)
            & ~_among(ids, taken)
        )
        for row in self._take(rng, pool, len(ids), ABOVE_LIST):
            line["product"][row] = cheapest
            self.defects.append(
                defect(
                    ABOVE_KIND,
                    system,
                    obj,
                    str(ids[row]),
                    field,
                    line["unit"][row] / 100,
                    prices[cheapest] / 100,
                )
            )
