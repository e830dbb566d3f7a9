"""The simulated BASE: OAuth (authorisation code, token refresh) and the items endpoints, per shop.

Facts and sources: the project reference ``base-api.md`` (shared/reference/ beside the checkout); shapes from the recorded responses in
``base-api-spec/recorded/``. Every error is HTTP 400 ``{"error", "error_description"}`` with the
documented Japanese texts. Choices where BASE documents nothing are marked UNCONFIRMED.

* :mod:`~ecauto_sandbox.base.oauth`: ``/1/oauth/token`` and the consent step ``/1/oauth/authorize``;
* :mod:`~ecauto_sandbox.base.items`: the item JSON, ``/1/items...`` and ``/1/users/me``;
* :mod:`~ecauto_sandbox.base.routes`: the route table and the pipeline of every items call;
* :mod:`~ecauto_sandbox.base.errors`: BASE's error texts and the error answer.
"""
