export * from './types.js';
export * from './seeds.js';
export * from './peer-set.js';
export * from './errors.js';
export * from './mdns-records.js';
export * from './mdns-peers.js';
export * from './mdns.js';
