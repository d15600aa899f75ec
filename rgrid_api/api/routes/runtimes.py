from fastapi import APIRouter

from rgrid_api.api.deps import SettingsDep
from rgrid_api.runtimes import RuntimeCatalogue
from rgrid_api.schemas import RuntimePublic

router = APIRouter(prefix="/api/v1/runtimes", tags=["runtimes"])


@router.get("")
def list_runtimes(settings: SettingsDep) -> list[RuntimePublic]:
    catalogue = RuntimeCatalogue(settings.runtimes, settings.default_runtime)
    return [RuntimePublic(name=r.name, image=r.image, extensions=r.extensions,
                          default=r.name == catalogue.default) for r in catalogue.all()]
