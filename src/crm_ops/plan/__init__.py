"""Fix plans: reviewable files of proposed changes built from findings (see ``crm_ops.plan.format``)."""

from crm_ops.plan.build import build_plan, latest_findings, links_beside
from crm_ops.plan.format import Action, Header, Plan, read_plan, select_actions
from crm_ops.plan.reviewfile import read_approvals
from crm_ops.plan.writing import write_plan

__all__ = [
    "Action",
    "Header",
    "Plan",
    "build_plan",
    "latest_findings",
    "links_beside",
    "read_approvals",
    "read_plan",
    "select_actions",
    "write_plan",
]
