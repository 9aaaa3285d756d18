"""The one base viewset every endpoint is built on. It owns, and subclasses may not replace:

- the door: API-key authentication, the tenant scope of the key's organisation entered
  around the whole request (and the audit context naming the key), per-key throttling;
- the queryset and object lookup: always filtered to the key's organisation, so another
  organisation's id answers 404 exactly like a missing one;
- permissions: each action names the ``Perm`` it needs (``action_perms``); an action
  without one is refused (fail closed);
- idempotent POSTs (``Idempotency-Key``).

A subclass supplies ``base_queryset(actor)`` (from its app's selectors) and serializers.
Replacing anything in ``SEALED`` (the queryset, lookup, door, permission and throttle methods
and the ``*_classes`` lists), in the class, through a mixin or in an ``@action``'s arguments, is
a TypeError at import time. A subclass may set ``filter_backends`` (they only narrow the
organisation's rows) and may add permissions through ``extra_permission_classes``, which are
checked after the base ones, never instead of them. The escape hatch is the loudly named
``dangerously_get_queryset`` for the rare endpoint that must see past the organisation.
"""

from __future__ import annotations

from contextlib import ExitStack

from django.shortcuts import get_object_or_404
from django_scopes import scope
from rest_framework import permissions, viewsets

from accounts.partner_api import idempotency
from accounts.partner_api.authentication import ApiKeyAuthentication
from accounts.partner_api.throttling import PlanRateThrottle
from accounts.roles import Perm
from audit import context as audit_context

SEALED = ("get_queryset", "get_object", "get_permissions", "initial", "dispatch", "finalize_response",
          "get_authenticators", "get_throttles", "handle_exception", "permission_classes",
          "authentication_classes", "throttle_classes", "check_permissions", "check_object_permissions",
          "check_throttles", "perform_authentication", "filter_queryset", "as_view", "permission_denied",
          "throttled", "initialize_request", "get_exception_handler")


# An action any valid key may call (its own description): named, so it is never an accident.
ANY_VALID_KEY = "any-valid-key"


class ActionPermission(permissions.BasePermission):
    """The action's ``Perm`` through the key's actor (no query); unknown actions are refused."""

    message = "This API key's scopes do not allow this action."

    def has_permission(self, request, view) -> bool:
        actor = getattr(request.user, "actor", None)
        if actor is None:
            return False
        if view.action is None:
            return True  # a method the route does not offer: the handler answers 405
        perm = view.action_perms.get(view.action)
        return perm == ANY_VALID_KEY or (perm is not None and actor.can(perm))


class TenantViewSet(viewsets.GenericViewSet):
    """Base of every partner-API viewset (see the module docstring)."""

    # Tuples, read only through the sealed get_* methods: no subclass or action can widen them.
    authentication_classes = (ApiKeyAuthentication,)
    permission_classes = (permissions.IsAuthenticated, ActionPermission)
    throttle_classes = (PlanRateThrottle,)
    # The named way to need more (checked after the base permissions; it can only narrow).
    extra_permission_classes: tuple = ()
    action_perms: dict[str, Perm | str] = {}
    model = None  # the endpoint's model (for the schema and lookups)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in SEALED:
            # Resolved through the MRO: a mixin listed before TenantViewSet must not replace it either.
            owner = next(klass for klass in cls.__mro__ if name in klass.__dict__)
            if owner not in TenantViewSet.__mro__:
                raise TypeError(f"{cls.__name__} must not override {name}: TenantViewSet owns it "
                                "(tenancy, permissions, idempotency). Use base_queryset().")
        for extra in cls.get_extra_actions():
            # An @action's arguments become attributes of the view for that route.
            for name in SEALED:
                if name in extra.kwargs:
                    raise TypeError(f"{cls.__name__}.{extra.__name__} must not set {name}: TenantViewSet "
                                    "owns it (tenancy, permissions, idempotency).")

    @classmethod
    def as_view(cls, actions=None, **initkwargs):
        # A url map passing, say, permission_classes=[] would otherwise set it on every instance.
        refused = sorted(set(initkwargs) & set(SEALED))
        if refused:
            raise TypeError(f"{cls.__name__}.as_view() must not set {', '.join(refused)}: "
                            "TenantViewSet owns it.")
        return super().as_view(actions, **initkwargs)

    # --- what subclasses provide --------------------------------------------------------------
    def base_queryset(self, actor):
        """This endpoint's rows for ``actor`` (through the app's selectors)."""
        raise NotImplementedError(f"{type(self).__name__} must define base_queryset(actor)")

    @property
    def actor(self):
        return self.request.user.actor

    # --- sealed ----------------------------------------------------------------------------
    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator, with no request
            return self.model.objects.none()
        if hasattr(self, "dangerously_get_queryset"):
            return self.dangerously_get_queryset()
        queryset = self.base_queryset(self.actor)
        # Belt and braces under the tenant scope: never another organisation's rows.
        return queryset.filter(organization_id=self.actor.organization_id)

    def get_object(self):
        queryset = self.filter_queryset(self.get_queryset())
        lookup = self.lookup_url_kwarg or self.lookup_field
        value = self.kwargs[lookup]
        if not (str(value).isascii() and str(value).isdigit()):  # "²" is a digit, not an int
            # Ids are integers: anything else is "not found", never a database error.
            from django.http import Http404

            raise Http404
        obj = get_object_or_404(queryset, **{self.lookup_field: value})
        self.check_object_permissions(self.request, obj)
        return obj

    def get_permissions(self):
        return [permission() for permission in (*TenantViewSet.permission_classes,
                                                *self.extra_permission_classes)]

    def get_authenticators(self):
        return [ApiKeyAuthentication()]

    def get_throttles(self):
        return [throttle() for throttle in TenantViewSet.throttle_classes]

    def dispatch(self, request, *args, **kwargs):
        with ExitStack() as stack:
            self._door = stack
            self._claim = None
            # A crash that never reached finalize_response must not leave the key claimed.
            stack.callback(self._release_unsettled_claim)
            return super().dispatch(request, *args, **kwargs)

    def _release_unsettled_claim(self) -> None:
        if self._claim is not None:
            idempotency.release(self._claim)
            self._claim = None

    def initial(self, request, *args, **kwargs):
        self.perform_authentication(request)
        principal = request.user
        actor = getattr(principal, "actor", None)
        if actor is not None:
            self._door.enter_context(scope(organization=principal.organization))
            token = audit_context.bind(actor=actor, organization=principal.organization)
            self._door.callback(audit_context.reset, token)
        super().initial(request, *args, **kwargs)
        self._refuse_unknown_query_parameters(request)
        if request.method == "POST" and actor is not None:
            claimed = idempotency.claim(request, request.auth)
            if claimed is not None and not isinstance(claimed, idempotency.IdempotentRequest):
                raise _Replay(claimed)
            self._claim = claimed

    def _refuse_unknown_query_parameters(self, request) -> None:
        """A typo in a filter must not silently widen the answer: unknown parameters are a 400."""
        allowed = {"format"}
        paginator = getattr(self, "paginator", None)
        if paginator is not None:
            allowed |= {getattr(paginator, "cursor_query_param", "cursor"),
                        getattr(paginator, "page_size_query_param", None) or "page_size"}
        for backend in self.filter_backends:
            if hasattr(backend, "ordering_param"):
                allowed.add(backend.ordering_param)
        filterset_class = getattr(self, "filterset_class", None)
        if filterset_class is not None:
            allowed |= set(filterset_class.base_filters)
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            from rest_framework.exceptions import ValidationError

            raise ValidationError({name: ["Unknown query parameter: see the API reference for the "
                                          "parameters this endpoint takes."] for name in unknown[:10]})

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        claimed = getattr(self, "_claim", None)
        if claimed is not None:
            idempotency.settle(claimed, response)
            self._claim = None
        limit = getattr(request, "rate_limit", None)
        if limit is not None:
            response["RateLimit-Limit"], response["RateLimit-Remaining"], response["RateLimit-Reset"] = (
                str(limit[0]), str(limit[1]), str(limit[2]))
        return response


class _Replay(Exception):
    """Control flow: answer a retried request with its stored response."""

    def __init__(self, response) -> None:
        super().__init__("idempotent replay")
        self.response = response
