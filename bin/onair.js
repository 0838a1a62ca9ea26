#!/usr/bin/env node
// The `onair` command: runs the TypeScript sources through tsx (a runtime dependency).
import { register } from 'tsx/esm/api';

register();
await import('../src/app/main.ts');
