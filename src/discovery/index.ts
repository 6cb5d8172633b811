export * from './types.js';
export * from './seeds.js';
export * from './peer-set.js';
