"""An account's own API keys: listed, created (shown once), revoked."""

from fastapi import APIRouter, status

from rgrid_api.api.deps import CurrentAccount, NowDep, SessionDep
from rgrid_api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from rgrid_api.services import accounts

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


@router.get("")
def list_keys(account: CurrentAccount, session: SessionDep) -> list[ApiKeyPublic]:
    return [ApiKeyPublic.model_validate(row, from_attributes=True)
            for row in accounts.list_keys(session, account)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_key(body: ApiKeyCreate, account: CurrentAccount, session: SessionDep,
               now: NowDep) -> ApiKeyCreated:
    row, key = accounts.create_key(session, account, name=body.name,
                                   expires_in_days=body.expires_in_days, now=now)
    return ApiKeyCreated(**ApiKeyPublic.model_validate(row, from_attributes=True).model_dump(),
                         api_key=key)


@router.delete("/{key_id}")
def revoke_key(key_id: str, account: CurrentAccount, session: SessionDep,
               now: NowDep) -> ApiKeyPublic:
    """Revoked at once: the key answers 401 from now on."""
    return ApiKeyPublic.model_validate(
        accounts.revoke_key(session, account, key_id=key_id, now=now), from_attributes=True)
