"""The HTTP contract: request and response bodies, one module per business area. Shared types (money, instants,
points, ids, the strict request base, problem details) live in `common`; routers import the area they serve."""
