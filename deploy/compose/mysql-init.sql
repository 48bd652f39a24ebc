-- Databases of the services; the image creates the `supply` user from MYSQL_USER/MYSQL_PASSWORD.
CREATE DATABASE IF NOT EXISTS auth CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS sales CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
GRANT ALL PRIVILEGES ON auth.* TO 'supply'@'%';
GRANT ALL PRIVILEGES ON sales.* TO 'supply'@'%';
