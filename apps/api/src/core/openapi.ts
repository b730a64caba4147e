import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { RequestHandler } from 'express';

/**
 * Serves the app's OpenAPI document, generated from its controllers at start, at `/docs`
 * (Swagger UI, assets served locally), `/docs-json` and `/docs-yaml`, each behind `guard` when
 * one is given (the management port's token).
 */
export function mountOpenApi(
  app: INestApplication,
  title: string,
  description: string,
  guard?: RequestHandler,
): void {
  if (guard) for (const path of ['/docs', '/docs-json', '/docs-yaml']) app.use(path, guard);
  const config = new DocumentBuilder()
    .setTitle(title)
    .setDescription(description)
    .setVersion(process.env.npm_package_version ?? '0.1.0')
    .addBearerAuth()
    .build();
  const document = SwaggerModule.createDocument(app, config);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}
