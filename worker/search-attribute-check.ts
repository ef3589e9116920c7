import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_FLAGS } from '../workflows/search-attributes.js';

/** Search attributes the jobs use that the namespace does not have (a job would stall on them). */
export async function missingSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  return SEARCH_ATTRIBUTE_FLAGS.map(([name]) => name).filter((name) => !customAttributes?.[name]);
}

export function createSearchAttributesCommand(namespace: string, names: string[]): string {
  const flags = SEARCH_ATTRIBUTE_FLAGS.filter(([name]) => names.includes(name))
    .map(([name, type]) => `--name ${name} --type ${type}`)
    .join(' ');
  return `temporal operator search-attribute create --namespace ${namespace} ${flags}`;
}
