"""The simulated Amazon: LWA and SP-API (Product Pricing v0, Catalog Items 2022-04-01), JP marketplace.

Shapes follow Amazon's models (``sp-api-models/``) with JPY integer amounts; facts and their
sources are in the project reference ``sp-api.md`` (shared/reference/ beside the checkout). Points where Amazon's behaviour is not
documented are marked UNCONFIRMED and listed in docs/sandbox.md.

* :mod:`~ecauto_sandbox.amazon.lwa`: the LWA token endpoint;
* :mod:`~ecauto_sandbox.amazon.pricing`: getItemOffersBatch, getItemOffers, getCompetitivePricing;
* :mod:`~ecauto_sandbox.amazon.catalog`: searchCatalogItems, getCatalogItem;
* :mod:`~ecauto_sandbox.amazon.routes`: the route table and the pipeline every SP-API call goes through;
* :mod:`~ecauto_sandbox.amazon.errors`: the ``ErrorList`` body and Amazon's error texts.
"""
