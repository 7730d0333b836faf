-- One database per service: a service never reads another service's tables.
CREATE DATABASE intake;
CREATE DATABASE routing;
CREATE DATABASE escalation;
CREATE DATABASE notify;
CREATE DATABASE identity;
