from fastapi import APIRouter, Depends, status

from rgrid_api.api.deps import CurrentAccount, NowDep, SessionDep, require_admin
from rgrid_api.schemas import (AccountCreate, AccountCreated, AccountPublic, SpendingLimit,
                               SpendingLimitSet)
from rgrid_api.services import accounts, spending

router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"])


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[Depends(require_admin)])
def create_account(body: AccountCreate, session: SessionDep) -> AccountCreated:
    account, key = accounts.create_account(session, name=body.name)
    return AccountCreated(id=account.id, name=account.name, created_at=account.created_at,
                          api_key=key)


@router.get("/me")
def me(account: CurrentAccount) -> AccountPublic:
    return AccountPublic.model_validate(account, from_attributes=True)


@router.put("/{account_id}/spending-limit", dependencies=[Depends(require_admin)],
            tags=["admin"])
def set_any_spending_limit(account_id: str, body: SpendingLimitSet, session: SessionDep,
                           now: NowDep) -> SpendingLimit:
    """The admin sets any account's monthly limit (and webhook)."""
    account = accounts.get_account(session, account_id)
    spending.set_limit(session, account, limit_micros=body.limit_micros,
                       webhook_url=body.webhook_url)
    return spending.view(session, account, now)
