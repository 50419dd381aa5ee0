-- One database per service and province (docker-compose.yml mounts this into the postgres container).
CREATE DATABASE registry_33;
CREATE DATABASE recognition_33;
CREATE DATABASE certificates_33;
CREATE DATABASE supervision_33;
CREATE DATABASE registry_32;
CREATE DATABASE recognition_32;
CREATE DATABASE certificates_32;
CREATE DATABASE supervision_32;
