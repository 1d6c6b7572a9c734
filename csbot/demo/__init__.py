"""The bundled demo tenant (小智商城 / SmartMall): data files, typed readers and a fake shop backend."""
