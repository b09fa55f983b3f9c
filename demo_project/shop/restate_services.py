"""The demo shop's durable handlers: a Greeter, a Cart per customer, a Checkout workflow."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import restate
from pydantic import BaseModel, Field
from restate.exceptions import TerminalError

from django_restate import Service, VirtualObject, Workflow, handler
from django_restate.runtime import atomic_step

from .models import Order, Product


class CartItem(BaseModel):
    sku: str = Field(min_length=1, max_length=32)
    quantity: int = Field(gt=0, le=1000)


class Greeter(Service):
    """Says hello, durably."""

    async def greet(self, ctx: restate.Context, name: str) -> str:
        count = await ctx.run_typed("count", lambda: len(name))
        return f"Hello, {name}! ({count} letters)"


class Cart(VirtualObject):
    """Shopping cart, one per customer. State survives restarts of Django and Restate."""

    async def add_item(self, ctx: restate.ObjectContext, item: CartItem) -> int:
        exists = await ctx.run_typed("check product", product_exists, sku=item.sku)
        if not exists:
            raise TerminalError(f"Unknown product {item.sku!r}", status_code=404)
        items: dict[str, int] = await ctx.get("items") or {}
        items[item.sku] = items.get(item.sku, 0) + item.quantity
        ctx.set("items", items)
        return sum(items.values())

    async def clear(self, ctx: restate.ObjectContext) -> None:
        ctx.clear_all()

    async def items(self, ctx: restate.ObjectSharedContext) -> dict[str, int]:
        return await ctx.get("items") or {}

    async def total(self, ctx: restate.ObjectSharedContext) -> float:
        items: dict[str, int] = await ctx.get("items") or {}
        return float(await ctx.run_typed("price cart", price_of, items=items))


class CheckoutRequest(BaseModel):
    customer: str
    items: dict[str, int]


class Checkout(Workflow):
    """Reserve stock, wait for approval, then place the order. Runs once per order id."""

    @handler(workflow_retention=timedelta(days=1))
    async def run(self, ctx: restate.WorkflowContext, request: CheckoutRequest) -> str:
        total = await ctx.run_typed("reserve stock", reserve_stock, items=request.items)
        ctx.set("status", "awaiting approval")
        await ctx.sleep(timedelta(milliseconds=100), name="cooling-off period")
        approved = await ctx.promise("approval", type_hint=bool).value()
        if not approved:
            await ctx.run_typed("release stock", release_stock, items=request.items)
            ctx.set("status", "rejected")
            return "rejected"
        await ctx.run_typed("place order", place_order, order_id=ctx.key(), customer=request.customer, total=total)
        ctx.set("status", "placed")
        return "placed"

    async def approve(self, ctx: restate.WorkflowSharedContext, approved: bool) -> None:
        await ctx.promise("approval", type_hint=bool).resolve(approved)

    async def status(self, ctx: restate.WorkflowSharedContext) -> str:
        return await ctx.get("status") or "starting"


# Durable steps: plain sync Django ORM code, run by ctx.run_typed in a worker thread.


def product_exists(sku: str) -> bool:
    return Product.objects.filter(sku=sku).exists()


def price_of(items: dict[str, int]) -> str:
    prices = dict(Product.objects.filter(sku__in=items).values_list("sku", "price"))
    return str(sum((prices.get(sku, Decimal(0)) * qty for sku, qty in items.items()), Decimal(0)))


# Restate runs a step at least once (a crash after COMMIT, a cluster failover), so the steps
# that change stock are atomic_step(once=True): their effects happen once per workflow run.


@atomic_step(once=True)
def reserve_stock(items: dict[str, int]) -> str:
    from django.db.models import F

    for sku, quantity in items.items():
        updated = Product.objects.filter(sku=sku, stock__gte=quantity).update(stock=F("stock") - quantity)
        if not updated:
            raise TerminalError(f"Not enough stock for {sku!r}", status_code=409)
    return price_of(items)


@atomic_step(once=True)
def release_stock(items: dict[str, int]) -> None:
    from django.db.models import F

    for sku, quantity in items.items():
        Product.objects.filter(sku=sku).update(stock=F("stock") + quantity)


def place_order(order_id: str, customer: str, total: str) -> None:  # idempotent by its unique order id
    Order.objects.update_or_create(
        order_id=order_id, defaults={"customer": customer, "total": Decimal(total), "status": "placed"}
    )
