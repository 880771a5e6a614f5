-- The second region's database on the same server (docker-compose.federation.yml).
CREATE DATABASE s117_midlands OWNER s117;
