from fastapi import APIRouter, Depends, status

from rgrid_api.api.deps import (CurrentAccount, SchedulerDep, SessionDep, SettingsDep,
                                submission_allowed)
from rgrid_api.schemas import ScheduleCreate, ScheduleList, SchedulePublic
from rgrid_api.services import schedules

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])


@router.post("", status_code=status.HTTP_201_CREATED,
             dependencies=[Depends(submission_allowed)])
def create_schedule(body: ScheduleCreate, account: CurrentAccount, session: SessionDep,
                    settings: SettingsDep, scheduler: SchedulerDep) -> SchedulePublic:
    schedule = schedules.create_schedule(session, account=account, request=body,
                                         settings=settings, scheduler=scheduler)
    return schedules.public_schedule(schedule, scheduler)


@router.get("")
def list_schedules(account: CurrentAccount, session: SessionDep,
                   scheduler: SchedulerDep) -> ScheduleList:
    return ScheduleList(schedules=[schedules.public_schedule(schedule, scheduler) for schedule
                                   in schedules.list_schedules(session, account=account)])


@router.delete("/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_schedule(schedule_id: str, account: CurrentAccount, session: SessionDep,
                    scheduler: SchedulerDep) -> None:
    schedules.delete_schedule(session, account=account, schedule_id=schedule_id,
                              scheduler=scheduler)
