// MongoDB users for docker-compose.yml, made by the image's entrypoint on the first start of the volume
// (with MONGO_INITDB_ROOT_USERNAME set, mongod then requires authentication). One user per process
// kind: the projector's consumer writes the copy, the read API only reads it.
const database = process.env.MONGO_DATABASE || "supply_store";
const store = db.getSiblingDB(database);
store.createUser({
  user: "mongo-projector",
  pwd: process.env.MONGO_PROJECTOR_PASSWORD,
  roles: [{ role: "readWrite", db: database }],
});
store.createUser({
  user: "read-api",
  pwd: process.env.MONGO_READ_API_PASSWORD,
  roles: [{ role: "read", db: database }],
});
