from api.core.errors import AppError, InvalidInput, NotFound


class TenantNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"No tenant is named {name!r}.")


class TenantExists(AppError):
    status_code = 409
    error = "tenant_exists"

    def __init__(self, name: str) -> None:
        super().__init__(f"A tenant named {name!r} exists already.")


class KeyNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such key in this tenant.")


class DefaultTenantKept(InvalidInput):
    def __init__(self) -> None:
        super().__init__("The default tenant cannot be deleted.")


class Forbidden(AppError):
    status_code = 403
    error = "forbidden"
