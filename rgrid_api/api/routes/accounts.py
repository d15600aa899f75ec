from fastapi import APIRouter, Depends, status

from rgrid_api.api.deps import CurrentAccount, SessionDep, require_admin
from rgrid_api.schemas import AccountCreate, AccountCreated, AccountPublic
from rgrid_api.services import accounts

router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"])


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[Depends(require_admin)])
def create_account(body: AccountCreate, session: SessionDep) -> AccountCreated:
    account, key = accounts.create_account(session, name=body.name)
    return AccountCreated(id=account.id, name=account.name, created_at=account.created_at,
                          api_key=key)


@router.get("/me")
def me(account: CurrentAccount) -> AccountPublic:
    return AccountPublic.model_validate(account, from_attributes=True)
