// MongoDB users for docker-compose.yml, made by the image's entrypoint on the first start of the volume
// (with MONGO_INITDB_ROOT_USERNAME set, mongod then requires authentication). One user per process
// kind: the projector's consumer writes the copy, the read API only reads it.
// `make test-compose` stands FerretDB in for MongoDB; its entrypoint reads the database and the table
// below (one user a line, in this form) and makes the same users without roles, which FerretDB lacks.
const database = process.env.MONGO_DATABASE || "supply_store";
// [user, the variable that holds its password, its role in the database]
const users = [
  ["mongo-projector", "MONGO_PROJECTOR_PASSWORD", "readWrite"],
  ["read-api", "MONGO_READ_API_PASSWORD", "read"],
];
for (const [user, variable, role] of users) {
  db.getSiblingDB(database).createUser({ user, pwd: process.env[variable], roles: [{ role, db: database }] });
}
